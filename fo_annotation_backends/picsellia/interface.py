"""The label schema as a Picsellia dataset version: its type and labels.

A Picsellia version holds one kind of annotation (``OBJECT_DETECTION``,
``SEGMENTATION``, ``CLASSIFICATION``, ``KEYPOINT``, ``LINE``, ...) or several
(``MULTI``), and a flat list of label names shared by every shape. Each
FiftyOne field maps to one kind of shape; the version's type is that kind's
type, or ``MULTI`` when the fields need several. Label names are the class
names, except where two fields drawing the same kind of shape share a class:
then the name is ``<field>/<class>``, so that every loaded shape (which names
its label) goes back to exactly one field and class.

What Picsellia cannot hold is refused before anything is uploaded, with the
reason: scalar fields (Picsellia has no free value per image), instance masks
and semantic segmentations (not supported by this backend yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.errors import SchemaError
from ..core.schema import Fields, FieldSpec

#: FiftyOne label type -> (shape kind, the version type holding it alone)
SHAPE_KINDS: dict[str, tuple[str, str]] = {
    "classification": ("classifications", "CLASSIFICATION"),
    "classifications": ("classifications", "CLASSIFICATION"),
    "detections": ("rectangles", "OBJECT_DETECTION"),
    "polygons": ("polygons", "SEGMENTATION"),
    "polylines": ("lines", "LINE"),
    "keypoints": ("keypoints", "KEYPOINT"),
}

#: why a label type is refused
REFUSED: dict[str, str] = {
    "scalar": "Picsellia has no free value per image (its classifications choose among labels)",
    "instances": "instance masks are not supported by the Picsellia backend yet",
    "segmentation": "semantic segmentations are not supported by the Picsellia backend yet",
}


class PicselliaInterface:
    """The version type and label names of a run's fields.

    Args:
        fields: ``{field: FieldSpec}``
        mapping (None): a stored :meth:`to_dict` (a run being loaded)
    """

    def __init__(self, fields: Fields, mapping: Mapping[str, Any] | None = None) -> None:
        self.fields = fields
        if mapping is None:
            check_fields(fields)
            mapping = _plan(fields)
        self.version_type: str = mapping["version_type"]
        #: ``{field: {class: label name}}``
        self.label_names: dict[str, dict[str, str]] = {f: dict(n) for f, n in mapping["label_names"].items()}
        #: ``{shape kind: {label name: (field, class)}}``
        self.owners: dict[str, dict[str, tuple[str, str]]] = {}
        for field, names in self.label_names.items():
            kind = shape_kind(fields[field]) if field in fields else None
            for class_name, label_name in names.items():
                if kind is not None:
                    self.owners.setdefault(kind, {})[label_name] = (field, class_name)

    def to_dict(self) -> dict[str, Any]:
        """What the run stores to load later."""
        return {"version_type": self.version_type, "label_names": self.label_names}

    def all_label_names(self) -> list[str]:
        """Every label the version needs, in schema order, without repeats."""
        return list(dict.fromkeys(name for names in self.label_names.values() for name in names.values()))

    def owner(self, kind: str, label_name: str | None) -> tuple[str, str] | None:
        """``(field, class)`` of a loaded shape, or ``None`` for a label no
        field of the run has."""
        if label_name is None:
            return None
        return self.owners.get(kind, {}).get(label_name)


def shape_kind(spec: FieldSpec) -> str:
    """The Picsellia shape kind of a field (``rectangles``, ``polygons``...)."""
    return SHAPE_KINDS[spec.type][0]


def check_fields(fields: Fields) -> None:
    """Refuses, before any upload, the fields Picsellia cannot hold.

    Raises:
        SchemaError: naming the field and the reason
    """
    for name, spec in fields.items():
        if spec.type in REFUSED:
            raise SchemaError("Field '%s' (%s): %s" % (name, spec.type, REFUSED[spec.type]))
        if spec.type not in SHAPE_KINDS:
            raise SchemaError("Field '%s': label type %s is not supported by the Picsellia backend" % (name, spec.type))
        if not spec.classes:
            raise SchemaError("Field '%s' needs classes: Picsellia shapes name one of the version's labels" % name)


def _plan(fields: Fields) -> dict[str, Any]:
    kinds = {shape_kind(spec) for spec in fields.values()}
    types = {SHAPE_KINDS[spec.type][1] for spec in fields.values()}
    version_type = types.pop() if len(types) == 1 else "MULTI"
    shared: dict[str, dict[str, int]] = {kind: {} for kind in kinds}
    for spec in fields.values():
        for class_name in spec.classes:
            counts = shared[shape_kind(spec)]
            counts[class_name] = counts.get(class_name, 0) + 1
    label_names: dict[str, dict[str, str]] = {}
    for field, spec in fields.items():
        counts = shared[shape_kind(spec)]
        label_names[field] = {c: (c if counts[c] == 1 else "%s/%s" % (field, c)) for c in spec.classes}
    return {"version_type": version_type, "label_names": label_names}
