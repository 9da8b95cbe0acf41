"""FiftyOne labels -> Label Studio ``result`` items (uploaded as
predictions whose region ids are FiftyOne label ids). Coordinates are
percentages of the image size."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import fiftyone.core.labels as fol
import numpy as np
import numpy.typing as npt
from bson import ObjectId
from PIL import Image

from ..core import geometry
from ..core.idmap import iter_labels, part_id

if TYPE_CHECKING:
    from fiftyone.core.labels import Label

    from ..core.schema import FieldSpec
    from .client import JsonDict
from .convert import (
    CONTROL_TAGS,
    IMAGE_TAG,
    KEYPOINT_WIDTH,
    LabelInterface,
    encode_rle,
    is_numeric_scalar,
)


def labels_to_results(
    spec: FieldSpec, interface: LabelInterface, value: object, width: int | None = None, height: int | None = None
) -> list[JsonDict]:
    """The Label Studio ``result`` items of one field of one sample.

    Args:
        spec: the field's ``FieldSpec``
        interface: the :class:`LabelInterface`
        value: the field's value on the sample (a label, a container, a
            scalar, or ``None``)
        width (None): the image width in pixels (needed for masks)
        height (None): the image height in pixels (needed for masks)

    Returns:
        a list of result dicts
    """
    if value is None:
        return []
    tag = interface.tags[spec.name]
    attr_tags = interface.attribute_tags.get(spec.name, {})
    common: JsonDict = {"from_name": tag, "to_name": IMAGE_TAG}
    if width and height:
        common.update(original_width=int(width), original_height=int(height), image_rotation=0)

    if spec.type == "scalar":
        result = _scalar_result(spec, common, value)
        return [result] if result is not None else []

    labels = iter_labels(value)
    results: list[JsonDict] = []
    if spec.type == "classification":
        for label in labels[:1]:
            results.append(dict(common, id=label.id, type="choices", value={"choices": [label.label]}))
            results.extend(_attribute_results(spec, attr_tags, label, {}, None, common))
        return results
    if spec.type == "classifications":
        if labels:
            results.append(
                dict(common, id=labels[0].id, type="choices", value={"choices": [label.label for label in labels]})
            )
            # attributes of a multi-label field are image-level: the first
            # classification that sets one provides it
            merged = _MergedAttributes(labels)
            results.extend(_attribute_results(spec, attr_tags, merged, {}, None, common))
        return results
    if spec.type == "segmentation":
        return _segmentation_results(spec, common, labels, width, height)

    _, result_type, value_key = CONTROL_TAGS[spec.type]
    for label in labels:
        first = True
        for index, geometry_value in enumerate(_region_geometries(spec, label, width, height)):
            if geometry_value is None:  # a missing keypoint keeps its index free
                continue
            region_id = part_id(label.id, index)
            region_value = dict(geometry_value, **{value_key: [label.label]})
            results.append(dict(common, id=region_id, type=result_type, value=region_value))
            if first:
                results.extend(_attribute_results(spec, attr_tags, label, geometry_value, region_id, common))
                first = False
    return results


class _MergedAttributes:
    def __init__(self, labels: Sequence[Label]) -> None:
        self._labels = labels

    def get_attribute_value(self, name: str, default: Any = None) -> Any:
        for label in self._labels:
            value = label.get_attribute_value(name, None)
            if value is not None:
                return value
        return default


def _scalar_result(spec: FieldSpec, common: JsonDict, value: Any) -> JsonDict | None:
    if isinstance(value, fol.Regression):  # what the built-in uploads as a number
        value = value.value
        if value is None:
            return None
    if spec.classes or spec.scalar_type == "bool":
        return dict(common, id=_new_region_id(), type="choices", value={"choices": [str(value)]})
    if is_numeric_scalar(spec) and isinstance(value, numbers.Number):
        return dict(common, id=_new_region_id(), type="number", value={"number": value})
    return dict(common, id=_new_region_id(), type="textarea", value={"text": [str(value)]})


def _attribute_results(
    spec: FieldSpec,
    attr_tags: Mapping[str, str],
    label: Label | _MergedAttributes,
    geometry_value: Mapping[str, Any],
    region_id: str | None,
    common: JsonDict,
) -> list[JsonDict]:
    results: list[JsonDict] = []
    for name, attr in spec.attributes.items():
        value = label.get_attribute_value(name, None)
        if value is None:
            continue
        tag = attr_tags[name]
        base = dict(common, from_name=tag, id=region_id or _new_region_id())
        if attr.type == "text":
            results.append(dict(base, type="textarea", value=dict(geometry_value, text=[str(value)])))
        elif attr.type == "checkbox":
            if value:
                results.append(dict(base, type="choices", value=dict(geometry_value, choices=[attr.name])))
        else:
            results.append(dict(base, type="choices", value=dict(geometry_value, choices=[str(value)])))
    return results


def _region_geometries(spec: FieldSpec, label: Label, width: int | None, height: int | None) -> list[JsonDict | None]:
    if spec.type == "detections":
        x, y, w, h = (100.0 * float(v) for v in label.bounding_box)
        return [{"x": x, "y": y, "width": w, "height": h, "rotation": 0}]
    if spec.type == "instances":
        size = _require_size(spec, width, height)
        mask = label.get_mask() if hasattr(label, "get_mask") else label.mask
        full = geometry.instance_to_full_mask(label.bounding_box, mask, *size)
        return [{"format": "rle", "rle": encode_rle(full)}]
    if spec.type in ("polylines", "polygons"):
        return [
            {"points": geometry.to_percent(shape), "closed": True} for shape in (label.points or []) if len(shape) >= 2
        ]
    if spec.type == "keypoints":
        out: list[JsonDict | None] = []
        for point in label.points or []:
            if point is None or any(_is_nan(c) for c in point):
                out.append(None)
                continue
            ((x, y),) = geometry.to_percent([point])
            out.append({"x": x, "y": y, "width": KEYPOINT_WIDTH})
        return out
    raise ValueError("Unsupported region type %s" % spec.type)


def _segmentation_results(
    spec: FieldSpec, common: JsonDict, labels: Sequence[Label], width: int | None, height: int | None
) -> list[JsonDict]:
    size = _require_size(spec, width, height)
    results: list[JsonDict] = []
    for label in labels[:1]:
        mask = label.get_mask()
        if mask is None:
            continue
        mask = _resize_mask(np.asarray(mask), *size)
        # a segmentation field always has mask targets (see normalize_label_schema)
        for pixel_value, name in sorted((spec.mask_targets or {}).items()):
            if pixel_value == 0:
                continue
            region = mask == pixel_value
            if not region.any():
                continue
            results.append(
                dict(
                    common,
                    id=part_id(label.id, pixel_value),
                    type="brushlabels",
                    value={"format": "rle", "rle": encode_rle(region), "brushlabels": [name]},
                )
            )
    return results


def _resize_mask(mask: npt.NDArray[Any], width: int, height: int) -> npt.NDArray[Any]:
    if mask.ndim == 3:
        mask = mask[:, :, 0]
    if mask.shape == (height, width):
        return mask
    image = Image.fromarray(mask.astype(np.uint8))
    return np.asarray(image.resize((width, height), Image.Resampling.NEAREST))


def _require_size(spec: FieldSpec, width: int | None, height: int | None) -> tuple[int, int]:
    if not width or not height:
        raise ValueError("Field '%s' (%s) needs the image size" % (spec.name, spec.type))
    return width, height


def _is_nan(value: Any) -> bool:
    try:
        return math.isnan(value)
    except TypeError:
        return True


def _new_region_id() -> str:
    return str(ObjectId())[-10:]


# --------------------------------------------------------------------------
# Label Studio -> FiftyOne: result items -> regions (core.regions makes labels)
# --------------------------------------------------------------------------
