"""Label Studio's side of the label schema: the labeling config.

- :class:`LabelInterface`: the label schema as a Label Studio labeling config
  (XML), with the control tag name of every field and attribute;
- the tag and result names both directions share, and Label Studio's brush
  RLE (:func:`encode_rle`, :func:`decode_rle`).

The conversions themselves are :mod:`.to_labelstudio` (FiftyOne labels ->
``result`` items uploaded as predictions) and :mod:`.from_labelstudio`
(annotations -> FiftyOne labels). Coordinates in Label Studio are percentages
of the image size.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..core.schema import safe_identifier

if TYPE_CHECKING:
    from ..core.schema import AttributeSpec, Fields, FieldSpec

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


def is_numeric_scalar(spec: FieldSpec) -> bool:
    """Whether a scalar field is annotated with a ``Number`` control: an int
    or float field, or a new field without classes (FiftyOne's built-in
    backend does the same); existing string or bool fields are not."""
    if spec.classes or spec.scalar_type == "bool":
        return False
    if spec.scalar_type in ("int", "float", "number"):
        return True
    return not spec.existing


def _brush() -> ModuleType:
    # imported on first use: the converter package costs ~25 MB of memory
    from label_studio_sdk.converter import brush

    return brush


def encode_rle(boolean_mask: npt.ArrayLike) -> list[int]:
    return _brush().mask2rle((np.asarray(boolean_mask, dtype=np.uint8) * 255))


def decode_rle(rle: Sequence[int], width: int | None, height: int | None) -> npt.NDArray[np.bool_]:
    if not width or not height:
        # the RLE holds the pixel count, not the shape
        raise ValueError("A brush result has no original_width/original_height; cannot decode its mask")
    flat = _brush().decode_rle(rle)
    return flat.reshape((height, width, 4))[:, :, 3] > 127
