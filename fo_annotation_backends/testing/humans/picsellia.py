"""A person in Picsellia's annotation tool: the asset's newest annotation,
shapes in whole-pixel rectangles and float polygons/lines/poses, labels by
name, masks as COCO RLE, attributes on shapes and on the whole image (scalar
fields); the work is saved and the annotation set ACCEPTED."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from fo_annotation_backends.core.geometry import is_missing
from fo_annotation_backends.picsellia.convert import rectangle_of, wire_value
from fo_annotation_backends.picsellia.interface import SHAPE_KINDS
from fo_annotation_backends.picsellia.rle import encode
from fo_annotation_backends.testing.picsellia_annotator import PicselliaAnnotator

from .base import Doc, Human, Point, base_id, part_index, rect_mask

CHOICE_TYPES = ("classification", "classifications")


class PicselliaHuman(Human):
    backend = "picsellia"
    identity = None  # Picsellia does not say who annotated
    # a version of one type accepts only that kind of shape (the suite's foreign-type case is a detections run)
    can_draw_foreign_types = False
    box_pixels = True  # rectangles are whole pixels

    def __init__(self, results: Any, url: str, api_key: str) -> None:
        super().__init__(results)
        self.annotator = PicselliaAnnotator(url, api_key)
        self.mapping = results.interface_mapping
        self.version_id = results.version_id

    def items(self) -> dict[str, Any]:
        return dict(self.results.asset_ids)

    def open(self, sample_id: str) -> PicselliaDoc:
        annotation = self.annotator.open(self.version_id, self.items()[sample_id])
        with Image.open(self.results.samples[sample_id].filepath) as image:
            width, height = image.size
        return PicselliaDoc(self, sample_id, annotation, width, height)

    def submit(self, doc: Doc) -> None:
        assert isinstance(doc, PicselliaDoc)
        self.annotator.annotate(
            self.version_id, self.items()[doc.sample_id], doc.shapes(), attributes=dict(doc.attributes)
        )

    def skip(self, sample_id: str) -> None:
        annotation = self.annotator.open(self.version_id, self.items()[sample_id])
        self.annotator.set_status(annotation["id"], "SKIPPED")

    def delete_item(self, sample_id: str) -> None:
        path = "/api/dataset/version/%s/assets" % self.version_id
        self.annotator._call("DELETE", path, json={"ids": [self.items()[sample_id]]})

    def project_exists(self) -> bool:
        response = self.annotator._session.get(
            "%s/api/dataset/version/%s" % (self.annotator.url, self.version_id), timeout=60
        )
        return response.status_code == 200


class PicselliaDoc(Doc):
    human: PicselliaHuman

    def __init__(
        self, human: PicselliaHuman, sample_id: str, annotation: dict[str, Any], width: int, height: int
    ) -> None:
        super().__init__(human, sample_id, width, height)
        self.mapping = human.mapping
        #: ``{kind: [shape]}`` as loaded (labels by name)
        self.by_kind: dict[str, list[dict[str, Any]]] = {
            kind: [dict(s) for s in annotation.get(kind) or []]
            for kind in {k for k, _ in SHAPE_KINDS.values()} | {"lines"}
        }
        self.attributes: dict[str, Any] = dict(annotation.get("attributes") or {})

    def shapes(self) -> dict[str, list[dict[str, Any]]]:
        """The shapes to save (without server ids; labels by name)."""
        return {
            kind: [{k: v for k, v in s.items() if k != "id"} for s in items] for kind, items in self.by_kind.items()
        }

    # -- names -----------------------------------------------------------

    def _names(self, field: str) -> dict[str, str]:
        """``{class: label name}`` of a shape field."""
        return dict(self.mapping["label_names"][field])

    def _classes(self, field: str) -> dict[str, str]:
        return {name: cls for cls, name in self._names(field).items()}

    def _shapes(self, field: str, label_id: str | None = None) -> list[dict[str, Any]]:
        kind = SHAPE_KINDS[_schema_type(self, field)][0]
        classes = self._classes(field)
        found = [s for s in self.by_kind[kind] if s.get("label") in classes]
        if label_id is None:
            return found
        mine = [s for s in found if base_id(s.get("text")) == label_id]
        return sorted(mine, key=lambda s: part_index(s.get("text")))

    def _attributes(
        self, field: str, attributes: dict[str, Any] | None, current: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        out = dict(current or {})
        names = (self.mapping.get("attribute_names") or {}).get(field) or {}
        for attr, value in (attributes or {}).items():
            name = names[attr]
            if value is None:
                out.pop(name, None)
            else:
                out[name] = wire_value(self.mapping["attributes"][name], value, attr)
        return out

    def _add(self, field: str, label: str, geometry: dict[str, Any], attributes: dict[str, Any] | None = None) -> None:
        kind = SHAPE_KINDS[_schema_type(self, field)][0]
        shape = {"label": self._names(field)[label], "text": None, "attributes": self._attributes(field, attributes)}
        shape.update(geometry)
        self.by_kind[kind].append(shape)

    def _pixels(self, points: Sequence[Point]) -> list[list[float]]:
        return [[float(x) * self.width, float(y) * self.height] for x, y in points]

    def _pose(self, points: Sequence[Point]) -> list[list[float]]:
        """A pose's ``[x, y, v]`` points (a missing point is ``v=0``)."""
        return [[0.0, 0.0, 0] if is_missing(p) else [x, y, 2] for p, (x, y) in zip(points, self._pixels(points))]

    # -- reading ---------------------------------------------------------

    def label_ids(self, field: str) -> set[str]:
        if _schema_type(self, field) == "scalar":
            return set()
        return {i for i in (base_id(s.get("text")) for s in self._shapes(field)) if i is not None}

    def classes(self, field: str) -> list[str]:
        classes = self._classes(field)
        objects: dict[Any, str] = {}
        for shape in self._shapes(field):
            key = base_id(shape.get("text")) if _schema_type(self, field) != "segmentation" else None
            objects.setdefault(key or id(shape), classes[shape["label"]])
        return sorted(objects.values())

    # -- adding ----------------------------------------------------------

    def add_box(
        self, field: str, label: str, bounding_box: list[float], attributes: dict[str, Any] | None = None
    ) -> None:
        self._add(field, label, rectangle_of(bounding_box, self.width, self.height), attributes)

    def add_polygon(
        self, field: str, label: str, points: Sequence[Point], attributes: dict[str, Any] | None = None
    ) -> None:
        key = "polygon" if _schema_type(self, field) == "polygons" else "line"
        self._add(field, label, {key: self._pixels(points)}, attributes)

    def add_points(
        self, field: str, label: str, points: Sequence[Point], attributes: dict[str, Any] | None = None
    ) -> None:
        self._add(field, label, {"keypoints": self._pose(points)}, attributes)

    def add_mask(
        self, field: str, label: str, rect: tuple[int, int, int, int], attributes: dict[str, Any] | None = None
    ) -> None:
        mask = rect_mask(rect, self.width, self.height).astype(bool)
        self._add(field, label, {"mask": encode(mask)}, attributes)

    def set_classes(self, field: str, labels: list[str], attributes: dict[str, Any] | None = None) -> None:
        doomed = {id(s) for s in self._shapes(field)}
        self.by_kind["classifications"] = [s for s in self.by_kind["classifications"] if id(s) not in doomed]
        for label in labels:
            self._add(field, label, {}, attributes)

    def set_number(self, field: str, value: float | None) -> None:
        name = self.mapping["scalar_names"][field]
        if value is None:
            self.attributes.pop(name, None)
        else:
            self.attributes[name] = wire_value(self.mapping["attributes"][name], value, field)

    def add_foreign_point(self, field: str, label: str, point: Point) -> None:
        raise AssertionError("a Picsellia version of one type accepts only its kind of shape")

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
        field_type = _schema_type(self, field)
        if field_type in CHOICE_TYPES:
            raise AssertionError("use set_classes() for classification fields")
        shapes = self._shapes(field, label_id)
        assert shapes, "no shape of label %s in field %s" % (label_id, field)
        if label is not None:
            for shape in shapes:
                shape["label"] = self._names(field)[label]
        if bounding_box is not None:
            shapes[0].update(rectangle_of(bounding_box, self.width, self.height))
        if points is not None:
            if field_type == "keypoints":
                shapes[0]["keypoints"] = self._pose(points)
            else:
                key = "polygon" if field_type == "polygons" else "line"
                shapes[0][key] = self._pixels(points)
        if attributes:
            for shape in shapes:
                shape["attributes"] = self._attributes(field, attributes, shape.get("attributes"))

    def delete(self, field: str, label_id: str) -> None:
        doomed = {id(s) for s in self._shapes(field, label_id)}
        for kind, items in self.by_kind.items():
            self.by_kind[kind] = [s for s in items if id(s) not in doomed]

    def clear(self, field: str) -> None:
        if _schema_type(self, field) == "scalar":
            self.set_number(field, None)
            return
        doomed = {id(s) for s in self._shapes(field)}
        for kind, items in self.by_kind.items():
            self.by_kind[kind] = [s for s in items if id(s) not in doomed]


def _schema_type(doc: PicselliaDoc, field: str) -> str:
    """The normalised label type of a field (the keys of :data:`SHAPE_KINDS`)."""
    return doc.human.field_type(field)
