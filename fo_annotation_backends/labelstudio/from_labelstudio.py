"""Label Studio annotations -> FiftyOne labels: an annotation's ``result``
items become labels under their original ids (regions carry the FiftyOne
label id they were uploaded as), new labels under new ids; regions are parsed
into :mod:`..core.regions`' common form, which makes the labels."""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..core import geometry, regions
from ..core.idmap import split_part_id

if TYPE_CHECKING:
    from fiftyone.core.labels import Label

    from ..core.schema import FieldSpec, ScalarValue
    from .client import JsonDict
from .convert import (
    CONTROL_TAGS,
    LabelInterface,
    decode_rle,
)


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
        region.mask = decode_rle(value["rle"], size_item.get("original_width"), size_item.get("original_height"))
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
