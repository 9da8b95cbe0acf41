"""A person in Kili's labeling interface: a ``jsonResponse`` per asset (one
entry per job), annotations with ``mid``s, normalised vertices, attributes as
child jobs, submitted as DEFAULT labels through the GraphQL API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fo_annotation_backends.testing.kili_annotator import KiliAnnotator

from .base import Doc, Human, Point, base_id, new_region_id, part_index

ANNOTATOR = "annotator@example.com"
CONFIDENCE = 100
#: field type -> the annotation type Kili's tool draws
TOOLS = {
    "detections": "rectangle",
    "instances": "semantic",
    "segmentation": "semantic",
    "polygons": "polygon",
    "polylines": "polyline",
    "keypoints": "marker",
}


class KiliHuman(Human):
    backend = "kili"
    identity = ANNOTATOR

    def __init__(self, results: Any, url: str, api_key: str) -> None:
        super().__init__(results)
        self.annotator = KiliAnnotator(url, api_key)
        self.mapping = results.interface_mapping
        self.project_id = results.project_id

    def items(self) -> dict[str, Any]:
        return dict(self.results.asset_ids)

    def open(self, sample_id: str) -> KiliDoc:
        return KiliDoc(self, sample_id, self.annotator.prefilled(self.project_id, self.items()[sample_id]))

    def submit(self, doc: Doc) -> None:
        assert isinstance(doc, KiliDoc)
        self.annotator.submit(self.project_id, self.items()[doc.sample_id], doc.response, author=ANNOTATOR)

    def skip(self, sample_id: str) -> None:
        # the app autosaves what was open; an autosave is not submitted work
        doc = self.open(sample_id)
        self.annotator.submit(
            self.project_id, self.items()[sample_id], doc.response, author=ANNOTATOR, label_type="AUTOSAVE"
        )

    def delete_item(self, sample_id: str) -> None:
        self.annotator.delete_assets(self.project_id, [self.items()[sample_id]])

    def project_exists(self) -> bool:
        return self.annotator.project_exists(self.project_id)


class KiliDoc(Doc):
    human: KiliHuman

    def __init__(self, human: KiliHuman, sample_id: str, response: dict[str, Any]) -> None:
        super().__init__(human, sample_id)
        self.response = response
        self.mapping = human.mapping

    # -- names -----------------------------------------------------------

    def _job(self, field: str) -> str:
        return self.mapping["jobs"][field]

    def _key(self, field: str, label: str) -> str:
        return self.mapping["categories"][field][str(label)]

    def _class(self, field: str, key: str) -> str:
        return next(c for c, k in self.mapping["categories"][field].items() if k == key)

    def _annotations(self, field: str, label_id: str | None = None) -> list[dict[str, Any]]:
        job = self.response.setdefault(self._job(field), {})
        annotations = job.setdefault("annotations", [])
        if label_id is None:
            return annotations
        return sorted((a for a in annotations if base_id(a.get("mid")) == label_id), key=lambda a: part_index(a["mid"]))

    def _children(
        self, field: str, attributes: dict[str, Any] | None, children: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        children = dict(children or {})
        types = self.human.attribute_types(field)
        for name, value in (attributes or {}).items():
            job = self.mapping["attribute_jobs"][field][name]
            children.pop(job, None)
            if value is None or (types[name] == "checkbox" and not value):
                continue
            if types[name] == "text":
                children[job] = {"text": str(value)}
            else:
                key = self.mapping["attribute_values"][field][name][str(value)]
                children[job] = {"categories": [{"name": key, "confidence": CONFIDENCE}]}
        return children

    def _add(
        self, field: str, label: str, shape: dict[str, Any], attributes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        annotation = {
            "mid": new_region_id(),
            "type": TOOLS[self.human.field_type(field)],
            "categories": [{"name": self._key(field, label), "confidence": CONFIDENCE}],
            "children": self._children(field, attributes),
        }
        annotation.update(shape)
        self._annotations(field).append(annotation)
        return annotation

    # -- reading ---------------------------------------------------------

    def label_ids(self, field: str) -> set[str]:
        job = self.response.get(self._job(field)) or {}
        return {i for i in (base_id(a.get("mid")) for a in job.get("annotations") or []) if i is not None}

    def classes(self, field: str) -> list[str]:
        job = self.response.get(self._job(field)) or {}
        if job.get("categories"):
            return sorted(self._class(field, c["name"]) for c in job["categories"])
        objects: dict[Any, str] = {}  # the annotations of one label (its parts) are one object
        for annotation in job.get("annotations") or []:
            key = base_id(annotation.get("mid")) if self.human.field_type(field) != "segmentation" else None
            objects.setdefault(key or annotation.get("mid"), annotation["categories"][0]["name"])
        return sorted(self._class(field, key) for key in objects.values())

    # -- adding ----------------------------------------------------------

    def add_box(
        self, field: str, label: str, bounding_box: list[float], attributes: dict[str, Any] | None = None
    ) -> None:
        self._add(field, label, {"boundingPoly": _rectangle(bounding_box)}, attributes)

    def add_polygon(
        self, field: str, label: str, points: Sequence[Point], attributes: dict[str, Any] | None = None
    ) -> None:
        if self.human.field_type(field) == "polylines":
            self._add(field, label, {"polyline": _vertices(points)}, attributes)
        else:
            self._add(field, label, {"boundingPoly": [{"normalizedVertices": _vertices(points)}]}, attributes)

    def add_points(
        self, field: str, label: str, points: Sequence[Point], attributes: dict[str, Any] | None = None
    ) -> None:
        for index, point in enumerate(points):
            self._add(field, label, {"point": _vertices([point])[0]}, attributes if index == 0 else None)

    def add_mask(
        self, field: str, label: str, rect: tuple[int, int, int, int], attributes: dict[str, Any] | None = None
    ) -> None:
        x0, y0, x1, y1 = rect
        w, h = float(self.width), float(self.height)
        ring = [(x0 / w, y0 / h), (x1 / w, y0 / h), (x1 / w, y1 / h), (x0 / w, y1 / h)]
        self._add(field, label, {"boundingPoly": [{"normalizedVertices": _vertices(ring)}]}, attributes)

    def set_classes(self, field: str, labels: list[str], attributes: dict[str, Any] | None = None) -> None:
        entries = [
            {"name": self._key(field, label), "confidence": CONFIDENCE, "children": self._children(field, attributes)}
            for label in labels
        ]
        self.response[self._job(field)] = {"categories": entries}

    def set_number(self, field: str, value: float | None) -> None:
        if self.mapping["categories"].get(field):
            self.response[self._job(field)] = {
                "categories": [{"name": self._key(field, str(value)), "confidence": CONFIDENCE}]
            }
        else:
            self.response[self._job(field)] = {"text": str(value)}

    def add_foreign_point(self, field: str, label: str, point: Point) -> None:
        annotation = self._add(field, label, {"point": _vertices([point])[0]})
        annotation["type"] = "marker"

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
        if field_type in ("classification", "classifications"):
            raise AssertionError("Kili classifications carry no label id: use set_classes()")
        annotations = self._annotations(field, label_id)
        assert annotations, "no annotation of label %s in field %s" % (label_id, field)
        if label is not None:
            for annotation in annotations:
                annotation["categories"] = [{"name": self._key(field, label), "confidence": CONFIDENCE}]
        if bounding_box is not None:
            annotations[0]["boundingPoly"] = _rectangle(bounding_box)
        if points is not None:
            if field_type == "keypoints":
                for annotation in annotations:
                    annotation["point"] = _vertices([points[part_index(annotation["mid"])]])[0]
            elif field_type == "polylines":
                annotations[0]["polyline"] = _vertices(points)
            else:
                annotations[0]["boundingPoly"] = [{"normalizedVertices": _vertices(points)}]
        if attributes:
            annotations[0]["children"] = self._children(field, attributes, annotations[0].get("children"))

    def delete(self, field: str, label_id: str) -> None:
        job = self.response.get(self._job(field)) or {}
        job["annotations"] = [a for a in job.get("annotations") or [] if base_id(a.get("mid")) != label_id]

    def clear(self, field: str) -> None:
        self.response.pop(self._job(field), None)


def _vertices(points: Sequence[Point]) -> list[dict[str, float]]:
    return [{"x": float(x), "y": float(y)} for x, y in points]


def _rectangle(bounding_box: Sequence[float]) -> list[dict[str, Any]]:
    """A box's ``boundingPoly`` in Kili's vertex order (bottom-left first)."""
    x, y, w, h = bounding_box
    return [{"normalizedVertices": _vertices([(x, y + h), (x, y), (x + w, y), (x + w, y + h)])}]
