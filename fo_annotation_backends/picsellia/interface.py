"""The label schema as a Picsellia dataset version: its type, labels and
attributes.

A Picsellia version holds one kind of annotation (``OBJECT_DETECTION``,
``SEGMENTATION``, ``CLASSIFICATION``, ``KEYPOINT``, ``LINE``, ``MASK``) or
several (``MULTI``), and a flat list of label names shared by every shape.
Each FiftyOne field maps to one kind of shape; the version's type is that
kind's type, or ``MULTI`` when the fields need several. Label names are the
class names, except where two fields drawing the same kind of shape share a
class: then the name is ``<field>/<class>``, so that every loaded shape
(which names its label) goes back to exactly one field and class.

Attributes are declared once per version (a name, an input type, choices):

- a label attribute is an attribute of each shape of the field, named after
  the attribute, or ``<field>.<attribute>`` where two fields (or a scalar
  field) would need the same name with different definitions;
- a scalar field is an attribute of the whole annotation (Picsellia's
  image-level attributes), named after the field.

What Picsellia cannot hold is refused before anything is uploaded, with the
reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.errors import SchemaError
from ..core.schema import AttributeSpec, Fields, FieldSpec

#: FiftyOne label type -> (shape kind, the version type holding it alone)
SHAPE_KINDS: dict[str, tuple[str, str]] = {
    "classification": ("classifications", "CLASSIFICATION"),
    "classifications": ("classifications", "CLASSIFICATION"),
    "detections": ("rectangles", "OBJECT_DETECTION"),
    "polygons": ("polygons", "SEGMENTATION"),
    "polylines": ("lines", "LINE"),
    "keypoints": ("keypoints", "KEYPOINT"),
    "instances": ("masks", "MASK"),
    "segmentation": ("masks", "MASK"),
}

#: Picsellia's attribute input types
INPUT_TYPES = {"bool": "BOOLEAN", "int": "INTEGER", "float": "FLOAT", "str": "STRING"}
#: the most choices an attribute may have
MAX_CHOICES = 64


class PicselliaInterface:
    """The version type, label names and attributes of a run's fields.

    Args:
        fields: ``{field: FieldSpec}``
        mapping (None): a stored :meth:`to_dict` (a run being loaded)
        new_fields (()): the fields the dataset does not have yet (a new
            scalar field without classes is read back as numbers)
    """

    def __init__(
        self, fields: Fields, mapping: Mapping[str, Any] | None = None, new_fields: tuple[str, ...] | list[str] = ()
    ) -> None:
        self.fields = fields
        if mapping is None:
            check_fields(fields)
            mapping = _plan(fields, set(new_fields))
        self.version_type: str = mapping["version_type"]
        #: ``{field: {class: label name}}`` of the shape fields
        self.label_names: dict[str, dict[str, str]] = {f: dict(n) for f, n in mapping["label_names"].items()}
        #: ``{field: {attribute: attribute name}}`` of the label attributes
        self.attribute_names: dict[str, dict[str, str]] = {
            f: dict(n) for f, n in (mapping.get("attribute_names") or {}).items()
        }
        #: ``{scalar field: attribute name}``
        self.scalar_names: dict[str, str] = dict(mapping.get("scalar_names") or {})
        #: ``{attribute name: Picsellia definition}`` the version needs
        self.attributes: dict[str, dict[str, Any]] = {n: dict(d) for n, d in (mapping.get("attributes") or {}).items()}
        #: ``{shape kind: {label name: (field, class)}}``
        self.owners: dict[str, dict[str, tuple[str, str]]] = {}
        for field, names in self.label_names.items():
            kind = shape_kind(fields[field]) if field in fields else None
            for class_name, label_name in names.items():
                if kind is not None:
                    self.owners.setdefault(kind, {})[label_name] = (field, class_name)

    def to_dict(self) -> dict[str, Any]:
        """What the run stores to load later."""
        return {
            "version_type": self.version_type,
            "label_names": self.label_names,
            "attribute_names": self.attribute_names,
            "scalar_names": self.scalar_names,
            "attributes": self.attributes,
        }

    def all_label_names(self) -> list[str]:
        """Every label the version needs, in schema order, without repeats."""
        return list(dict.fromkeys(name for names in self.label_names.values() for name in names.values()))

    def owner(self, kind: str, label_name: str | None) -> tuple[str, str] | None:
        """``(field, class)`` of a loaded shape, or ``None`` for a label no
        field of the run has."""
        if label_name is None:
            return None
        return self.owners.get(kind, {}).get(label_name)

    def is_numeric_scalar(self, field: str) -> bool:
        """Whether a scalar field's attribute holds numbers."""
        name = self.scalar_names.get(field)
        return name is not None and self.attributes.get(name, {}).get("input_type") in ("INTEGER", "FLOAT")


def shape_kind(spec: FieldSpec) -> str:
    """The Picsellia shape kind of a field (``rectangles``, ``masks``...)."""
    return SHAPE_KINDS[spec.type][0]


def check_fields(fields: Fields) -> None:
    """Refuses, before any upload, the fields Picsellia cannot hold.

    Raises:
        SchemaError: naming the field and the reason
    """
    for name, spec in fields.items():
        if spec.type == "scalar":
            if spec.classes and len(spec.classes) > MAX_CHOICES:
                raise SchemaError(
                    "Scalar field '%s' has %d classes; a Picsellia attribute offers at most %d choices"
                    % (name, len(spec.classes), MAX_CHOICES)
                )
            continue
        if spec.type not in SHAPE_KINDS:
            raise SchemaError("Field '%s': label type %s is not supported by the Picsellia backend" % (name, spec.type))
        classes = segmentation_classes(spec) if spec.type == "segmentation" else spec.classes
        if not classes:
            need = "mask_targets" if spec.type == "segmentation" else "classes"
            raise SchemaError("Field '%s' needs %s: Picsellia shapes name one of the version's labels" % (name, need))


def segmentation_classes(spec: FieldSpec) -> list[str]:
    """The classes of a segmentation field: its mask targets' names."""
    return [name for _, name in sorted((spec.mask_targets or {}).items()) if name]


def field_classes(spec: FieldSpec) -> list[str]:
    """The classes a shape field's labels are named after."""
    return segmentation_classes(spec) if spec.type == "segmentation" else list(spec.classes)


def attribute_definition(attr: AttributeSpec) -> dict[str, Any]:
    """Picsellia's definition of a label attribute."""
    if attr.type == "checkbox":
        return {"display_name": attr.name[:256], "required": False, "input_type": "BOOLEAN"}
    values = [v for v in attr.values or [] if v is not None]
    return _definition(attr.name, values, _input_type(values), choices=attr.type in ("select", "radio"))


def scalar_definition(spec: FieldSpec, numeric: bool) -> dict[str, Any]:
    """Picsellia's definition of a scalar field's image-level attribute."""
    input_type = INPUT_TYPES.get(spec.scalar_type or "str", "STRING")
    if numeric and input_type == "STRING":
        input_type = "FLOAT"
    return _definition(spec.name, [_typed(c, input_type) for c in spec.classes], input_type, bool(spec.classes))


def _typed(value: str, input_type: str) -> Any:
    """A class (a string in the schema) as a value of the input type."""
    try:
        if input_type == "INTEGER":
            return int(float(value))
        if input_type == "FLOAT":
            return float(value)
    except ValueError:
        raise SchemaError("Class %r is not a number, as the scalar field's values are" % value) from None
    return value


def _input_type(values: list[Any]) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "BOOLEAN"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INTEGER"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "FLOAT"
    return "STRING"


def _definition(name: str, values: list[Any], input_type: str, choices: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"display_name": name[:256] or "value", "required": False, "input_type": input_type}
    if input_type == "STRING":
        values = [str(v) for v in values]
    # Picsellia: 1-64 choices (2-64 for strings), none for booleans; otherwise the value is free
    least = 2 if input_type == "STRING" else 1
    if choices and input_type != "BOOLEAN" and least <= len(values) <= MAX_CHOICES:
        out["choices"] = list(dict.fromkeys(values))
        out["allow_multiple"] = False
    return out


def _plan(fields: Fields, new_fields: set[str]) -> dict[str, Any]:
    shape_fields = {f: s for f, s in fields.items() if s.type != "scalar"}
    kinds = {shape_kind(spec) for spec in shape_fields.values()}
    types = {SHAPE_KINDS[spec.type][1] for spec in shape_fields.values()}
    if not types:
        version_type = "CLASSIFICATION"  # scalars only: image-level attributes on any version
    else:
        version_type = types.pop() if len(types) == 1 else "MULTI"
    shared: dict[str, dict[str, int]] = {kind: {} for kind in kinds}
    for spec in shape_fields.values():
        for class_name in field_classes(spec):
            counts = shared[shape_kind(spec)]
            counts[class_name] = counts.get(class_name, 0) + 1
    label_names: dict[str, dict[str, str]] = {}
    for field, spec in shape_fields.items():
        counts = shared[shape_kind(spec)]
        label_names[field] = {c: (c if counts[c] == 1 else "%s/%s" % (field, c)) for c in field_classes(spec)}
    attributes: dict[str, dict[str, Any]] = {}
    scalar_names: dict[str, str] = {}
    for field, spec in fields.items():
        if spec.type == "scalar":
            numeric = field in new_fields and not spec.classes and spec.scalar_type == "str"
            scalar_names[field] = field
            attributes[field] = scalar_definition(spec, numeric)
    wanted: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for field, spec in shape_fields.items():
        for name, attr in spec.attributes.items():
            wanted.setdefault(name, []).append((field, attribute_definition(attr)))
    attribute_names: dict[str, dict[str, str]] = {}
    for name, users in wanted.items():
        clash = name in attributes or any(d != users[0][1] for _, d in users)
        for field, definition in users:
            full = "%s.%s" % (field, name) if clash else name
            attribute_names.setdefault(field, {})[name] = full
            attributes[full] = definition
    return {
        "version_type": version_type,
        "label_names": label_names,
        "attribute_names": attribute_names,
        "scalar_names": scalar_names,
        "attributes": attributes,
    }
