"""Conversions between FiftyOne labels and Label Studio's formats.

- :class:`LabelInterface`: the label schema as a Label Studio labeling config
  (XML), with the control tag name of every field and attribute.
- :func:`labels_to_results`: FiftyOne labels -> Label Studio ``result``
  items (uploaded as predictions whose region ids are FiftyOne label ids).
- :func:`results_to_labels`: an annotation's ``result`` items -> FiftyOne
  labels under their original ids, new labels under new ids.

Coordinates in Label Studio are percentages of the image size.
"""

from __future__ import annotations

import math
import numbers
import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import fiftyone.core.labels as fol
import numpy as np
import numpy.typing as npt
from bson import ObjectId
from PIL import Image

from ..core import geometry, regions
from ..core.idmap import iter_labels, part_id, split_part_id
from ..core.schema import safe_identifier

if TYPE_CHECKING:
    from fiftyone.core.labels import Label

    from ..core.schema import AttributeSpec, Fields, FieldSpec, ScalarValue
    from .client import JsonDict

IMAGE_TAG = "image"

#: normalised label type -> (control tag, result type, value key)
CONTROL_TAGS = {
    "classification": ("Choices", "choices", "choices"),
    "classifications": ("Choices", "choices", "choices"),
    "detections": ("RectangleLabels", "rectanglelabels", "rectanglelabels"),
    "instances": ("BrushLabels", "brushlabels", "brushlabels"),
    "polylines": ("PolygonLabels", "polygonlabels", "polygonlabels"),
    "polygons": ("PolygonLabels", "polygonlabels", "polygonlabels"),
    "keypoints": ("KeyPointLabels", "keypointlabels", "keypointlabels"),
    "segmentation": ("BrushLabels", "brushlabels", "brushlabels"),
}

_REGION_TYPES = ("detections", "instances", "polylines", "polygons", "keypoints")
# control names Label Studio takes as they are (FiftyOne's built-in backend
# names controls after their fields, and code written for it relies on that)
_PLAIN_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_GEOMETRY_KEYS = ("x", "y", "width", "height", "rotation", "points", "format", "rle")
KEYPOINT_WIDTH = 0.75


class LabelInterface:
    """The Label Studio labeling config of a label schema.

    Args:
        fields: ``{field: FieldSpec}``
        tags (None): ``{field: tag}`` and ``{field: {attr: tag}}`` to reuse
            (from a stored run); computed when omitted
    """

    def __init__(
        self,
        fields: Fields,
        tags: Mapping[str, str] | None = None,
        attribute_tags: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.fields = fields
        if tags is None:
            tags, attribute_tags = self._assign_tags(fields)
        self.tags = dict(tags)
        self.attribute_tags = {f: dict(a) for f, a in (attribute_tags or {}).items()}
        self.field_of_tag = {tag: field for field, tag in self.tags.items()}

    @staticmethod
    def _assign_tags(fields: Fields) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        taken = {IMAGE_TAG}
        tags: dict[str, str] = {}
        attribute_tags: dict[str, dict[str, str]] = {}
        for field, spec in fields.items():
            tag = field if _PLAIN_NAME_RE.match(field) and field not in taken else safe_identifier(field, taken)
            taken.add(tag)
            tags[field] = tag
            attribute_tags[field] = {}
            for attr in spec.attributes:
                attr_tag = safe_identifier("%s__%s" % (tag, attr), taken)
                taken.add(attr_tag)
                attribute_tags[field][attr] = attr_tag
        return tags, attribute_tags

    def to_xml(self) -> str:
        """The labeling config XML (class names escaped, kept exactly)."""
        root = ET.Element("View")
        ET.SubElement(root, "Image", name=IMAGE_TAG, value="$image", zoom="true", zoomControl="true")
        for field, spec in self.fields.items():
            tag = self.tags[field]
            ET.SubElement(root, "Header", value=field)
            if spec.type == "scalar":
                self._scalar_control(root, spec, tag)
                continue
            control, _, _ = CONTROL_TAGS[spec.type]
            attrs = {"name": tag, "toName": IMAGE_TAG}
            if spec.type == "classification":
                attrs["choice"] = "single-radio"
            elif spec.type == "classifications":
                attrs["choice"] = "multiple"
            elif spec.type == "keypoints":
                attrs["smart"] = "false"
            element = ET.SubElement(root, control, attrs)
            child = "Choice" if control == "Choices" else "Label"
            for name in spec.classes:
                ET.SubElement(element, child, value=name)
            for attr_name, attr in spec.attributes.items():
                self._attribute_control(root, spec, tag, attr, self.attribute_tags[field][attr_name])
        return ET.tostring(root, encoding="unicode")

    @staticmethod
    def _scalar_control(root: ET.Element, spec: FieldSpec, tag: str) -> None:
        if spec.classes or spec.scalar_type == "bool":
            values = spec.classes or ["True", "False"]
            element = ET.SubElement(root, "Choices", name=tag, toName=IMAGE_TAG, choice="single-radio")
            for value in values:
                ET.SubElement(element, "Choice", value=str(value))
        elif is_numeric_scalar(spec):
            attrs = {"name": tag, "toName": IMAGE_TAG}
            if spec.scalar_type != "int":
                attrs["step"] = "any"
            ET.SubElement(root, "Number", attrs)
        else:
            ET.SubElement(root, "TextArea", name=tag, toName=IMAGE_TAG, maxSubmissions="1", editable="true")

    @staticmethod
    def _attribute_control(root: ET.Element, spec: FieldSpec, tag: str, attr: AttributeSpec, attr_tag: str) -> None:
        attrs = {"name": attr_tag, "toName": IMAGE_TAG}
        if spec.type in _REGION_TYPES:
            attrs["perRegion"] = "true"
        else:
            attrs.update(visibleWhen="choice-selected", whenTagName=tag)
        ET.SubElement(root, "Header", value="%s: %s" % (spec.name, attr.name), size="6")
        if attr.type == "text":
            ET.SubElement(root, "TextArea", dict(attrs, maxSubmissions="1", editable="true"))
            return
        if attr.type == "checkbox":
            element = ET.SubElement(root, "Choices", dict(attrs, choice="multiple"))
            ET.SubElement(element, "Choice", value=attr.name)
            return
        element = ET.SubElement(
            root, "Choices", dict(attrs, choice="single-radio" if attr.type == "radio" else "single")
        )
        for value in attr.values or []:
            ET.SubElement(element, "Choice", value=str(value))

    def required_tags(self) -> set[str]:
        """Every control tag name this interface defines."""
        names = set(self.tags.values())
        for attr_tags in self.attribute_tags.values():
            names.update(attr_tags.values())
        return names


# --------------------------------------------------------------------------
# FiftyOne -> Label Studio
# --------------------------------------------------------------------------


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


def is_numeric_scalar(spec: FieldSpec) -> bool:
    """Whether a scalar field is annotated with a ``Number`` control: an int
    or float field, or a new field without classes (FiftyOne's built-in
    backend does the same); existing string or bool fields are not."""
    if spec.classes or spec.scalar_type == "bool":
        return False
    if spec.scalar_type in ("int", "float", "number"):
        return True
    return not spec.existing


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
        return [{"format": "rle", "rle": _encode_rle(full)}]
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
                    value={"format": "rle", "rle": _encode_rle(region), "brushlabels": [name]},
                )
            )
    return results


def _brush() -> ModuleType:
    # imported on first use: the converter package costs ~25 MB of memory
    from label_studio_sdk.converter import brush

    return brush


def _encode_rle(boolean_mask: npt.ArrayLike) -> list[int]:
    return _brush().mask2rle((np.asarray(boolean_mask, dtype=np.uint8) * 255))


def _decode_rle(rle: Sequence[int], width: int | None, height: int | None) -> npt.NDArray[np.bool_]:
    if not width or not height:
        # the RLE holds the pixel count, not the shape
        raise ValueError("A brush result has no original_width/original_height; cannot decode its mask")
    flat = _brush().decode_rle(rle)
    return flat.reshape((height, width, 4))[:, :, 3] > 127


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


def results_to_labels(
    spec: FieldSpec,
    interface: LabelInterface,
    items: Sequence[JsonDict],
    current_labels: Mapping[str, Label],
    aliases: Mapping[str, str] | None = None,
    added: dict[str, str] | None = None,
    known_ids: Collection[str] = (),
) -> Any:  # {label_id: Label}; a ScalarValue or None for a scalar field
    """The FiftyOne labels of one field in one annotation's ``result``.

    Args:
        spec: the field's ``FieldSpec``
        interface: the :class:`LabelInterface`
        items: every result item of the annotation
        current_labels: ``{label_id: Label}`` of this field's labels in the
            run's id_map that still exist in the dataset (for ids,
            closed/filled flags and keypoint point counts)
        aliases (None): ``{region id: label id}`` of regions an earlier load
            turned into new labels: they keep those labels' ids
        added (None): a dict that receives ``{region id: label id}`` of the
            regions that make new labels now
        known_ids (()): uploaded label ids that keep their id although they
            are not in ``current_labels`` (the field was deleted)

    Returns:
        ``{label_id: Label}``, or the scalar value for scalar fields
    """
    tag = interface.tags[spec.name]
    attr_tag_to_name = {t: n for n, t in interface.attribute_tags.get(spec.name, {}).items()}
    own = [item for item in items if item.get("from_name") == tag and not _is_foreign(spec, item)]
    attr_items = [item for item in items if item.get("from_name") in attr_tag_to_name]

    if spec.type == "scalar":
        return _scalar_from_results(spec, own)

    if spec.type in ("classification", "classifications"):
        found = _attributes_from_items(spec, attr_tag_to_name, attr_items)
        chosen = [name for item in own for name in (item.get("value") or {}).get("choices") or []]
        return regions.classifications_to_labels(spec, [(name, found) for name in chosen], current_labels, known_ids)

    def remember(label: Label, parts: regions.Parts) -> None:
        if added is not None:
            added.update({region.region_id: label.id for _, region in parts if region.region_id})

    known = set(current_labels) | set(known_ids)
    attrs_by_region: dict[str | None, list[JsonDict]] = {}
    for item in attr_items:
        attrs_by_region.setdefault(item.get("id"), []).append(item)
    parsed: list[regions.Region] = []
    for item in own:
        region = _region_of(spec.type, item, own[0] if spec.type == "segmentation" else item)
        region.label_id, region.part = _owner(item.get("id"), known, aliases or {})
        if region.region_id:
            region.attributes = _attributes_from_items(
                spec, attr_tag_to_name, attrs_by_region.get(region.region_id, [])
            )
        parsed.append(region)
    if spec.type == "segmentation":
        return regions.segmentation_to_labels(spec, parsed, current_labels, known_ids)
    return regions.regions_to_labels(spec, parsed, current_labels, known_ids, on_new=remember)


def _owner(region_id: str | None, known: Container[str], aliases: Mapping[str, str]) -> tuple[str | None, int | None]:
    """``(label id, part)`` of a region: an uploaded label's part id, a
    region an earlier load made a label of (parts in order), or new."""
    base_id, index = split_part_id(region_id)
    if base_id is not None and base_id in known:
        return base_id, index
    if region_id and aliases.get(region_id) in known:
        return aliases[region_id], None
    return None, None


#: a region type drawn in a field of another type -> (the label type it
#: makes, FiftyOne's return type)
FOREIGN_TYPES = {
    "rectanglelabels": ("detections", "detections"),
    "keypointlabels": ("keypoints", "keypoints"),
    "polygonlabels": ("polylines", "polylines"),
    "brushlabels": ("instances", "detections"),
}


def foreign_labels(
    spec: FieldSpec, interface: LabelInterface, items: Iterable[JsonDict]
) -> dict[str, dict[str, Label]]:
    """Labels of another type drawn in a field's control (a point in a
    detections field), which FiftyOne handles as ``unexpected``.

    Returns:
        ``{return_type: {label_id: Label}}`` (return types other than the
        field's own)
    """
    tag = interface.tags[spec.name]
    by_type: dict[str, list[regions.Region]] = {}
    for item in items:
        if item.get("from_name") == tag and _is_foreign(spec, item) and item.get("type") in FOREIGN_TYPES:
            label_type, _ = FOREIGN_TYPES[item["type"]]
            by_type.setdefault(label_type, []).append(_region_of(label_type, item, item))
    return regions.foreign_labels(spec, by_type, attributes=False)


def _is_foreign(spec: FieldSpec, item: Mapping[str, Any]) -> bool:
    """Whether a result item of the field's control has another type."""
    kind = item.get("type")
    if kind is None or spec.type == "scalar":
        return False
    return kind != CONTROL_TAGS[spec.type][1]


def _region_of(label_type: str, item: Mapping[str, Any], size_item: Mapping[str, Any]) -> regions.Region:
    """A result item of a ``label_type`` control as a region (a brush mask
    decoded at ``size_item``'s original size)."""
    value = item.get("value") or {}
    names = value.get(CONTROL_TAGS[label_type][2]) or []
    region = regions.Region(label=names[0] if names else None, region_id=item.get("id"))
    if label_type == "detections":
        region.box = _rectangle_box(item)
    elif label_type in ("instances", "segmentation"):
        region.mask = _decode_rle(value["rle"], size_item.get("original_width"), size_item.get("original_height"))
    elif label_type in ("polylines", "polygons"):
        region.shapes = [geometry.from_percent(value["points"])]
        # drawn with the polygon tool (Label Studio has no other): a closed,
        # filled shape unless the region says it is open
        region.closed = value.get("closed", True) is not False
    elif label_type == "keypoints":
        region.points = geometry.from_percent([[value["x"], value["y"]]])
    else:
        raise ValueError("Unsupported type %s" % label_type)
    return region


def _rectangle_box(item: Mapping[str, Any]) -> list[float]:
    value = item["value"]
    x, y, w, h = value["x"], value["y"], value["width"], value["height"]
    rotation = value.get("rotation") or 0
    if rotation:
        width = item.get("original_width") or 100.0
        height = item.get("original_height") or 100.0
        # rotate in pixels (isotropic), then take the enclosing upright box
        corners = geometry.rotated_rect_corners(
            x * width / 100.0, y * height / 100.0, w * width / 100.0, h * height / 100.0, rotation
        )
        box = geometry.corners_to_box(geometry.from_pixels(corners, width, height))
        return geometry.clip_box(box)
    return [x / 100.0, y / 100.0, w / 100.0, h / 100.0]


def _attributes_from_items(
    spec: FieldSpec, attr_tag_to_name: Mapping[str, str], items: Iterable[JsonDict]
) -> dict[str, Any]:
    """``{attribute: typed value}`` of attribute result items (the last
    item of an attribute wins)."""
    found: dict[str, Any] = {}
    for item in items:
        tag = item.get("from_name")
        name = attr_tag_to_name.get(tag) if isinstance(tag, str) else None
        if name is None:
            continue
        attr = spec.attributes[name]
        value = item.get("value") or {}
        if attr.type == "text":
            texts = value.get("text") or []
            found[name] = attr.parse(texts[0] if texts else None)
        elif attr.type == "checkbox":
            found[name] = attr.name in (value.get("choices") or [])
        else:
            choices = value.get("choices") or []
            found[name] = attr.parse(choices[0] if choices else None)
    return found


def _scalar_from_results(spec: FieldSpec, own: Iterable[JsonDict]) -> ScalarValue | None:
    for item in own:
        value = item.get("value") or {}
        if "number" in value:
            return _number(spec, value["number"])
        if value.get("choices"):
            return spec.parse_scalar(value["choices"][0])
        if value.get("text"):
            return spec.parse_scalar(value["text"][0])
    return None


def _number(spec: FieldSpec, raw: Any) -> ScalarValue | None:
    """A ``Number`` control's value as the field's type; as it is (an int or
    a float) for a field that did not exist when the run was uploaded."""
    if raw is None or isinstance(raw, bool):
        return spec.parse_scalar(raw)
    if spec.scalar_type in ("int", "float", "bool") or (spec.existing and spec.scalar_type == "str"):
        return spec.parse_scalar(raw)
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            return spec.parse_scalar(raw)
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return raw
