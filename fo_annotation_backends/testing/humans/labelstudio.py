"""A person in Label Studio's editor: an annotation's ``result`` items,
percent coordinates, per-region attribute controls sharing the region's id,
brush regions as RLE (Label Studio's own encoding)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from label_studio_sdk.converter import brush

from fo_annotation_backends.testing.labelstudio_annotator import LabelStudioAnnotator

from .base import Doc, Human, Point, base_id, new_region_id, part_index, rect_mask

#: field type -> (result type, the value key holding the class)
RESULT_TYPES = {
    "detections": ("rectanglelabels", "rectanglelabels"),
    "instances": ("brushlabels", "brushlabels"),
    "segmentation": ("brushlabels", "brushlabels"),
    "polylines": ("polygonlabels", "polygonlabels"),
    "polygons": ("polygonlabels", "polygonlabels"),
    "keypoints": ("keypointlabels", "keypointlabels"),
    "classification": ("choices", "choices"),
    "classifications": ("choices", "choices"),
}
KEYPOINT_WIDTH = 0.75
_GEOMETRY = ("x", "y", "width", "height", "rotation", "points", "closed", "format", "rle")


class LabelStudioHuman(Human):
    backend = "labelstudio"
    polylines_closed = True  # Label Studio draws them with its polygon tool

    def __init__(self, results: Any, url: str, api_key: str) -> None:
        super().__init__(results)
        self.annotator = LabelStudioAnnotator(url, api_key)
        self._identity = None
        self._controls: dict[str, str] | None = None

    @property
    def identity(self) -> str | None:  # type: ignore[override]
        if self._identity is None:
            self._identity = self.annotator.whoami()["email"]
        return self._identity

    def items(self) -> dict[str, Any]:
        return dict(self.results.sample_to_task)

    def control(self, field: str) -> Any:
        """The control tag (``Number``, ``TextArea``, ``Choices``...) the
        project's labeling config gives the field."""
        if self._controls is None:
            config = self.annotator.session.get(
                "%s/api/projects/%d/" % (self.annotator.url, int(self.results.project_id)), timeout=60
            ).json()["label_config"]
            self._controls = {str(e.get("name")): e.tag for e in ET.fromstring(config).iter() if e.get("name")}
        return self._controls[self.results.tags[field]]

    def open(self, sample_id: str) -> LabelStudioDoc:
        result = self.annotator.working_result(self.items()[sample_id])
        return LabelStudioDoc(self, sample_id, result)

    def submit(self, doc: Doc) -> None:
        assert isinstance(doc, LabelStudioDoc)
        self.annotator.submit(self.items()[doc.sample_id], doc.result)

    def skip(self, sample_id: str) -> None:
        self.annotator.skip(self.items()[sample_id])

    def delete_item(self, sample_id: str) -> None:
        self.annotator.delete_task(self.items()[sample_id])

    def project_exists(self) -> bool:
        return self.annotator.project_exists(self.results.project_id)


class LabelStudioDoc(Doc):
    human: LabelStudioHuman

    def __init__(self, human: Human, sample_id: str, result: list[dict[str, Any]]) -> None:
        super().__init__(human, sample_id)
        self.result = result

    # -- names -----------------------------------------------------------

    def _tag(self, field: str) -> str:
        return self.human.results.tags[field]

    def _attr_tag(self, field: str, name: str) -> str:
        return self.human.results.attribute_tags[field][name]

    def _tags(self, field: str) -> set[str]:
        return {self._tag(field)} | set((self.human.results.attribute_tags.get(field) or {}).values())

    def _regions(self, field: str, label_id: str | None = None) -> list[dict[str, Any]]:
        tag = self._tag(field)
        regions = [r for r in self.result if r.get("from_name") == tag]
        if label_id is not None:
            regions = sorted(
                (r for r in regions if base_id(r.get("id")) == label_id), key=lambda r: part_index(r["id"])
            )
        return regions

    def _item(self, field: str, type_: str, value: dict[str, Any], region_id: str | None = None) -> dict[str, Any]:
        item = {
            "id": region_id or new_region_id(),
            "from_name": self._tag(field),
            "to_name": "image",
            "type": type_,
            "original_width": self.width,
            "original_height": self.height,
            "image_rotation": 0,
            "value": value,
        }
        self.result.append(item)
        return item

    # -- reading ---------------------------------------------------------

    def label_ids(self, field: str) -> set[str]:
        return {i for i in (base_id(r.get("id")) for r in self._regions(field)) if i is not None}

    def classes(self, field: str) -> list[str]:
        _, key = RESULT_TYPES[self.human.field_type(field)]
        objects: dict[Any, list[str]] = {}  # the regions of one label (its parts) are one object
        for region in self._regions(field):
            key_ = base_id(region.get("id")) if self.human.field_type(field) != "segmentation" else None
            objects.setdefault(key_ or region.get("id"), region["value"].get(key) or [])
        return sorted(c for names in objects.values() for c in names)

    # -- attributes ------------------------------------------------------

    def _set_attributes(
        self, field: str, region: dict[str, Any], attributes: dict[str, Any] | None, regional: bool = True
    ) -> None:
        types = self.human.attribute_types(field)
        for name, value in (attributes or {}).items():
            tag = self._attr_tag(field, name)
            self.result[:] = [
                r
                for r in self.result
                if not (r.get("from_name") == tag and (not regional or r.get("id") == region["id"]))
            ]
            if value is None or (types[name] == "checkbox" and not value):
                continue
            geometry = {k: v for k, v in region["value"].items() if k in _GEOMETRY} if regional else {}
            if types[name] == "text":
                type_, payload = "textarea", {"text": [str(value)]}
            elif types[name] == "checkbox":
                type_, payload = "choices", {"choices": [name]}
            else:
                type_, payload = "choices", {"choices": [str(value)]}
            item = dict(
                from_name=tag,
                to_name="image",
                type=type_,
                id=region["id"] if regional else new_region_id(),
                value=dict(geometry, **payload),
            )
            if regional:
                item.update(original_width=self.width, original_height=self.height, image_rotation=0)
            self.result.append(item)

    # -- adding ----------------------------------------------------------

    def add_box(
        self, field: str, label: str, bounding_box: list[float], attributes: dict[str, Any] | None = None
    ) -> None:
        x, y, w, h = (100.0 * v for v in bounding_box)
        region = self._item(
            field,
            "rectanglelabels",
            {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]},
        )
        self._set_attributes(field, region, attributes)

    def add_polygon(
        self, field: str, label: str, points: Sequence[Point], attributes: dict[str, Any] | None = None
    ) -> None:
        region = self._item(
            field, "polygonlabels", {"points": _percent(points), "closed": True, "polygonlabels": [label]}
        )
        self._set_attributes(field, region, attributes)

    def add_points(
        self, field: str, label: str, points: Sequence[Point], attributes: dict[str, Any] | None = None
    ) -> None:
        for index, (x, y) in enumerate(points):
            region = self._item(
                field,
                "keypointlabels",
                {"x": 100.0 * x, "y": 100.0 * y, "width": KEYPOINT_WIDTH, "keypointlabels": [label]},
            )
            if index == 0:
                self._set_attributes(field, region, attributes)

    def add_mask(
        self, field: str, label: str, rect: tuple[int, int, int, int], attributes: dict[str, Any] | None = None
    ) -> None:
        rle = brush.mask2rle(rect_mask(rect, self.width, self.height, value=255))
        region = self._item(field, "brushlabels", {"format": "rle", "rle": rle, "brushlabels": [label]})
        self._set_attributes(field, region, attributes)

    def set_classes(self, field: str, labels: list[str], attributes: dict[str, Any] | None = None) -> None:
        current = self._regions(field)
        region_id = current[0]["id"] if current else new_region_id()
        self.result[:] = [r for r in self.result if r.get("from_name") != self._tag(field)]
        if labels:
            region = self._item(field, "choices", {"choices": list(labels)}, region_id=region_id)
            for key in ("original_width", "original_height", "image_rotation"):
                region.pop(key)
            self._set_attributes(field, region, attributes, regional=False)

    def set_number(self, field: str, value: float | None) -> None:
        """Types ``value`` in the field's control: a Number, or a text area
        (or picks it, in a Choices control)."""
        self.result[:] = [r for r in self.result if r.get("from_name") != self._tag(field)]
        control = self.human.control(field)
        if control == "Number":
            region = self._item(field, "number", {"number": value})
        elif control == "Choices":
            region = self._item(field, "choices", {"choices": [str(value)]})
        else:
            region = self._item(field, "textarea", {"text": [str(value)]})
        for key in ("original_width", "original_height", "image_rotation"):
            region.pop(key)

    def add_foreign_point(self, field: str, label: str, point: Point) -> None:
        x, y = point
        self._item(
            field,
            "keypointlabels",
            {"x": 100.0 * x, "y": 100.0 * y, "width": KEYPOINT_WIDTH, "keypointlabels": [label]},
        )

    # -- editing ---------------------------------------------------------

    def edit(
        self,
        field: str,
        label_id: str,
        label: str | None = None,
        bounding_box: list[float] | None = None,
        points: Sequence[Point] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        field_type = self.human.field_type(field)
        regions = self._regions(field, label_id)
        assert regions, "no region of label %s in field %s" % (label_id, field)
        if field_type in ("classification", "classifications"):
            if label is not None:
                regions[0]["value"]["choices"] = [label]
            self._set_attributes(field, regions[0], attributes, regional=False)
            return
        _, key = RESULT_TYPES[field_type]
        if label is not None:
            for region in regions:
                region["value"][key] = [label]
        if bounding_box is not None:
            x, y, w, h = (100.0 * v for v in bounding_box)
            regions[0]["value"].update(x=x, y=y, width=w, height=h, rotation=0)
        if points is not None:
            if field_type == "keypoints":
                for region in regions:
                    x, y = points[part_index(region["id"])]
                    region["value"].update(x=100.0 * x, y=100.0 * y)
            else:
                regions[0]["value"]["points"] = _percent(points)
        # attribute controls carry a copy of their region's geometry
        for item in self.result:
            if item.get("from_name") in self._tags(field) - {self._tag(field)}:
                source = next((r for r in regions if r["id"] == item.get("id")), None)
                if source is not None:
                    item["value"].update({k: v for k, v in source["value"].items() if k in _GEOMETRY})
        self._set_attributes(field, regions[0], attributes)

    def delete(self, field: str, label_id: str) -> None:
        tags = self._tags(field)
        self.result[:] = [
            r for r in self.result if not (r.get("from_name") in tags and base_id(r.get("id")) == label_id)
        ]

    def clear(self, field: str) -> None:
        tags = self._tags(field)
        self.result[:] = [r for r in self.result if r.get("from_name") not in tags]


def _percent(points: Sequence[Point]) -> list[list[float]]:
    return [[100.0 * float(x), 100.0 * float(y)] for x, y in points]
