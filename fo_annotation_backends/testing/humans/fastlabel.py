"""A person in FastLabel's editor: a task's annotations in pixels, each of a
class (by its value), attributes as ``{key, value}``; edited annotations keep
their FastLabel ids; the task is saved with a status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fo_annotation_backends.testing.fastlabel_annotator import FastLabelAnnotator

from .base import HEIGHT, WIDTH, Doc, Human, Point, base_id, part_index

#: field type -> FastLabel annotation type
TYPES = {
    "detections": "bbox",
    "instances": "segmentation",
    "segmentation": "segmentation",
    "polygons": "polygon",
    "polylines": "line",
    "keypoints": "keypoint",
}
CHOICE_TYPES = ("classification", "classifications", "scalar")


class FastLabelHuman(Human):
    backend = "fastlabel"
    identity = None  # tasks name an assignee, not who did the work
    can_draw_foreign_types = False  # an annotation's type is its class's

    def __init__(self, results: Any, url: str, api_key: str) -> None:
        super().__init__(results)
        self.annotator = FastLabelAnnotator(url, api_key)
        self.mapping = results.interface_mapping
        self.classification = results.project_type == "image_classification"
        # FiftyOne part id -> FastLabel annotation id, recorded at upload
        self.fastlabel_ids = {part: fl_id for fl_id, part in results.annotation_ids.items() if part}

    def items(self) -> dict[str, Any]:
        return dict(self.results.task_ids)

    def open(self, sample_id: str) -> FastLabelDoc:
        task = self.annotator.task(self.items()[sample_id], classification=self.classification)
        return FastLabelDoc(self, sample_id, task)

    def submit(self, doc: Doc) -> None:
        assert isinstance(doc, FastLabelDoc)
        task_id = self.items()[doc.sample_id]
        if self.classification:
            self.annotator.submit(task_id, attributes=doc.task.get("attributes") or [], classification=True)
        else:
            self.annotator.submit(task_id, doc.task.get("annotations") or [])

    def skip(self, sample_id: str) -> None:
        self.annotator.skip(self.items()[sample_id])

    def delete_item(self, sample_id: str) -> None:
        self.annotator.delete_task(self.items()[sample_id])

    def project_exists(self) -> bool:
        return self.annotator.project_exists(self.results.project_id)


class FastLabelDoc(Doc):
    human: FastLabelHuman

    def __init__(self, human: FastLabelHuman, sample_id: str, task: dict[str, Any]) -> None:
        super().__init__(human, sample_id, task.get("width") or WIDTH, task.get("height") or HEIGHT)
        self.task = task
        self.mapping = human.mapping
        self.label_of = {fl_id: part for part, fl_id in human.fastlabel_ids.items()}

    # -- names -----------------------------------------------------------

    def _key(self, field: str) -> str:
        return self.mapping["fields"][field]

    def _values(self, field: str) -> dict[str, str]:
        """``{class value: class}`` of a spatial field."""
        return {v: c for c, v in (self.mapping["classes"].get(field) or {}).items()}

    def _annotations(self, field: str, label_id: str | None = None) -> list[dict[str, Any]]:
        values = self._values(field)
        annotations = [a for a in self.task.setdefault("annotations", []) if a.get("value") in values]
        if label_id is None:
            return annotations
        mine = [a for a in annotations if base_id(self.label_of.get(a.get("id"))) == label_id]
        return sorted(mine, key=lambda a: part_index(self.label_of[a["id"]]))

    def _attribute_items(
        self, field: str, attributes: dict[str, Any] | None, items: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        items = [dict(i) for i in items or []]
        types = self.human.attribute_types(field)
        keys = self.mapping.get("attributes", {}).get(field) or {}
        for name, value in (attributes or {}).items():
            key = keys[name]
            items = [i for i in items if i.get("key") != key]
            if value is None:
                continue
            if types[name] == "checkbox":
                items.append({"key": key, "value": bool(value)})
            elif types[name] == "text":
                items.append({"key": key, "value": str(value)})
            else:
                items.append({"key": key, "value": self.mapping["attribute_options"][field][name][str(value)]})
        return items

    def _add(
        self, field: str, label: str, shape: dict[str, Any], attributes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        annotation = {
            "type": TYPES[self.human.field_type(field)],
            "value": self.mapping["classes"][field][label],
            "attributes": self._attribute_items(field, attributes),
        }
        annotation.update(shape)
        self.task.setdefault("annotations", []).append(annotation)
        return annotation

    def _flat(self, points: Sequence[Point]) -> list[float]:
        out: list[float] = []
        for x, y in points:
            out.extend((float(x) * self.width, float(y) * self.height))
        return out

    # -- reading ---------------------------------------------------------

    def label_ids(self, field: str) -> set[str]:
        if self.human.field_type(field) in CHOICE_TYPES:
            annotations = self._choice_annotations(field)
        else:
            annotations = self._annotations(field)
        return {i for i in (base_id(self.label_of.get(a.get("id"))) for a in annotations) if i is not None}

    def classes(self, field: str) -> list[str]:
        if self.human.field_type(field) in CHOICE_TYPES:
            options = {v: c for c, v in (self.mapping["choices"].get(field) or {}).items()}
            raw = self._choice_value(field)
            raw = [] if raw is None else raw if isinstance(raw, list) else [raw]
            return sorted(options[v] for v in raw)
        values = self._values(field)
        objects: dict[Any, str] = {}  # the annotations of one label (its parts) are one object
        for annotation in self._annotations(field):
            key: Any = (
                base_id(self.label_of.get(annotation.get("id")))
                if self.human.field_type(field) != "segmentation"
                else None
            )
            key = key or annotation.get("id") or id(annotation)
            objects.setdefault(key, values[annotation["value"]])
        return sorted(objects.values())

    def _choice_annotations(self, field: str) -> list[dict[str, Any]]:
        key = self._key(field)
        return [
            a for a in self.task.get("annotations") or [] if a.get("type") == "classification" and a.get("value") == key
        ]

    def _choice_items(self, field: str) -> list[dict[str, Any]]:
        if self.human.classification:
            return self.task.setdefault("attributes", [])
        found = self._choice_annotations(field)
        return found[0].setdefault("attributes", []) if found else []

    def _choice_value(self, field: str) -> Any:
        key = self._key(field)
        return next(
            (
                i.get("value")
                for i in self._choice_items(field)
                if i.get("key") == key and i.get("value") not in (None, "", [])
            ),
            None,
        )

    def _set_choice(self, field: str, value: Any, attributes: dict[str, Any] | None = None) -> None:
        key = self._key(field)
        items = ([] if value is None else [{"key": key, "value": value}]) + self._attribute_items(field, attributes)
        if self.human.classification:
            own = {key} | set((self.mapping.get("attributes", {}).get(field) or {}).values())
            kept = [
                {"key": i["key"], "value": i["value"]}
                for i in self.task.get("attributes") or []
                if i.get("key") not in own
            ]
            self.task["attributes"] = kept + items
            return
        found = self._choice_annotations(field)
        if found:
            found[0]["attributes"] = items
        else:
            self.task.setdefault("annotations", []).append(
                {"type": "classification", "value": key, "attributes": items}
            )

    # -- adding ----------------------------------------------------------

    def add_box(
        self, field: str, label: str, bounding_box: list[float], attributes: dict[str, Any] | None = None
    ) -> None:
        x, y, w, h = bounding_box
        self._add(field, label, {"points": self._flat([(x, y), (x + w, y + h)]), "rotation": 0}, attributes)

    def add_polygon(
        self, field: str, label: str, points: Sequence[Point], attributes: dict[str, Any] | None = None
    ) -> None:
        self._add(field, label, {"points": self._flat(points)}, attributes)

    def add_points(
        self, field: str, label: str, points: Sequence[Point], attributes: dict[str, Any] | None = None
    ) -> None:
        for index, point in enumerate(points):
            self._add(field, label, {"points": self._flat([point])}, attributes if index == 0 else None)

    def add_mask(
        self, field: str, label: str, rect: tuple[int, int, int, int], attributes: dict[str, Any] | None = None
    ) -> None:
        x0, y0, x1, y1 = (float(v) for v in rect)
        ring = [x0, y0, x1, y0, x1, y1, x0, y1, x0, y0]  # clockwise on screen, closed
        self._add(field, label, {"points": [[ring]]}, attributes)

    def set_classes(self, field: str, labels: list[str], attributes: dict[str, Any] | None = None) -> None:
        options = [self.mapping["choices"][field][label] for label in labels]
        if self.human.field_type(field) == "classification":
            self._set_choice(field, options[0] if options else None, attributes)
        else:
            self._set_choice(field, options, attributes)

    def set_number(self, field: str, value: float | None) -> None:
        choices = self.mapping.get("choices", {}).get(field)
        self._set_choice(field, choices[str(value)] if choices else str(value))

    def add_foreign_point(self, field: str, label: str, point: Point) -> None:
        raise AssertionError("FastLabel binds an annotation's type to its class: no foreign types")

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
        if field_type in CHOICE_TYPES:
            raise AssertionError("use set_classes() for choice fields")
        annotations = self._annotations(field, label_id)
        assert annotations, "no annotation of label %s in field %s" % (label_id, field)
        if label is not None:
            for annotation in annotations:
                annotation["value"] = self.mapping["classes"][field][label]
        if bounding_box is not None:
            x, y, w, h = bounding_box
            annotations[0].update(points=self._flat([(x, y), (x + w, y + h)]), rotation=0)
        if points is not None:
            if field_type == "keypoints":
                for annotation in annotations:
                    annotation["points"] = self._flat([points[part_index(self.label_of[annotation["id"]])]])
            else:
                annotations[0]["points"] = self._flat(points)
        if attributes:
            for annotation in annotations:
                annotation["attributes"] = self._attribute_items(field, attributes, annotation.get("attributes"))

    def delete(self, field: str, label_id: str) -> None:
        doomed = {id(a) for a in self._annotations(field, label_id)}
        self.task["annotations"] = [a for a in self.task.get("annotations") or [] if id(a) not in doomed]

    def clear(self, field: str) -> None:
        if self.human.field_type(field) in CHOICE_TYPES:
            if self.human.classification:
                self._set_choice(field, None)
            else:
                doomed = {id(a) for a in self._choice_annotations(field)}
                self.task["annotations"] = [a for a in self.task.get("annotations") or [] if id(a) not in doomed]
            return
        doomed = {id(a) for a in self._annotations(field)}
        self.task["annotations"] = [a for a in self.task.get("annotations") or [] if id(a) not in doomed]
