"""The label schema in one internal form, shared by every backend.

FiftyOne hands a backend a label schema that it has already resolved
(``{field: {"type", "classes", "attributes", "mask_targets", ...}}``). This
module turns it into :class:`FieldSpec` objects with the same facts in a
shape that is easy to convert from, and validates what FiftyOne leaves to
the backend.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

from .errors import SchemaError

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

#: a label schema as FiftyOne resolves it: ``{field: {"type", "classes", ...}}``
LabelSchema = Mapping[str, Optional[Mapping[str, Any]]]
#: the value of a scalar field
ScalarValue = Union[int, float, bool, str]

#: FiftyOne label type -> (normalised type, whether the field holds a list)
LABEL_TYPES = {
    "classification": ("classification", False),
    "classifications": ("classifications", True),
    "detection": ("detections", False),
    "detections": ("detections", True),
    "instance": ("instances", False),
    "instances": ("instances", True),
    "polyline": ("polylines", False),
    "polylines": ("polylines", True),
    "polygon": ("polygons", False),
    "polygons": ("polygons", True),
    "keypoint": ("keypoints", False),
    "keypoints": ("keypoints", True),
    "segmentation": ("segmentation", False),
    "scalar": ("scalar", False),
}

#: normalised type -> FiftyOne's return type for ``download_annotations``
RETURN_TYPES = {
    "classification": "classifications",
    "classifications": "classifications",
    "detections": "detections",
    "instances": "detections",
    "polylines": "polylines",
    "polygons": "polylines",
    "keypoints": "keypoints",
    "segmentation": "segmentation",
    "scalar": "scalar",
}

#: every normalised image label type; each service backend supports all of them
IMAGE_TYPES = tuple(RETURN_TYPES)

ATTRIBUTE_TYPES = ("select", "radio", "checkbox", "text")
SCALAR_TYPES = ("int", "float", "bool", "str")


@dataclasses.dataclass
class AttributeSpec:
    """One label attribute.

    Attributes:
        name: the attribute name on the FiftyOne label
        type: one of ``select``, ``radio``, ``checkbox``, ``text``
        values: the allowed values (select/radio), in order, typed as given
        default: the value a new label gets when the annotator sets none
    """

    name: str
    type: str
    values: list[Any] | None = None
    default: Any = None

    def parse(self, raw: Any) -> Any:
        """Maps a service's string value back to the typed FiftyOne value."""
        if raw is None:
            return self.default
        if self.type == "checkbox":
            if isinstance(raw, bool):
                return raw
            return str(raw).strip().lower() in ("true", "1", "yes", "on", self.name.lower())
        if self.values:
            for value in self.values:
                if value == raw or str(value) == str(raw):
                    return value
        return raw


@dataclasses.dataclass
class FieldSpec:
    """One label field of the schema.

    Attributes:
        name: the FiftyOne field name
        type: the normalised label type (``classification``,
            ``classifications``, ``detections``, ``instances``,
            ``polylines``, ``polygons``, ``keypoints``, ``segmentation``,
            ``scalar``)
        multiple: whether the field holds a list container (``Detections``)
            rather than a single label (``Detection``)
        classes: the class names, exact strings, in order
        attributes: ``{name: AttributeSpec}``
        mask_targets: ``{pixel value: class}`` for segmentations
        existing: whether the field already exists on the dataset
        scalar_type: ``int``/``float``/``bool``/``str`` for scalar fields
        allow_additions, allow_deletions, allow_label_edits,
            allow_spatial_edits: FiftyOne's edit permissions
    """

    name: str
    type: str
    multiple: bool = True
    classes: list[str] = dataclasses.field(default_factory=list)
    attributes: dict[str, AttributeSpec] = dataclasses.field(default_factory=dict)
    mask_targets: dict[int, str] | None = None
    existing: bool = False
    scalar_type: str | None = None
    allow_additions: bool = True
    allow_deletions: bool = True
    allow_label_edits: bool = True
    allow_spatial_edits: bool = True

    @property
    def return_type(self) -> str:
        """FiftyOne's return type for this field."""
        return RETURN_TYPES[self.type]

    @property
    def class_to_value(self) -> dict[str, int]:
        """``{class: pixel value}`` for segmentation fields."""
        return {c: v for v, c in (self.mask_targets or {}).items()}

    def complete_attributes(self, found: dict[str, Any], new: bool) -> dict[str, Any]:
        """``found`` (``{attribute: value}`` read from a service) plus every
        schema attribute it lacks: ``False`` for a checkbox, the default for
        a new label, ``None`` for an existing one."""
        for name, attr in self.attributes.items():
            if name not in found:
                if attr.type == "checkbox":
                    found[name] = False
                else:
                    found[name] = attr.default if new else None
        return found

    def parse_scalar(self, raw: Any) -> ScalarValue | None:
        """Maps a service's value back to the field's Python type."""
        if raw is None:
            return None
        try:
            if self.scalar_type == "int":
                return int(float(raw))
            if self.scalar_type == "float":
                return float(raw)
            if self.scalar_type == "bool":
                if isinstance(raw, bool):
                    return raw
                return str(raw).strip().lower() in ("true", "1", "yes")
        except (TypeError, ValueError):
            raise SchemaError(
                "Field '%s' expects %s values; the service returned %r" % (self.name, self.scalar_type, raw)
            ) from None
        return raw if isinstance(raw, str) else str(raw)


#: ``{field: FieldSpec}``, in schema order
Fields = dict[str, FieldSpec]


def normalize_label_schema(
    label_schema: LabelSchema | None,
    samples: SampleCollection | None = None,
    supported_types: Collection[str] | None = None,
) -> Fields:
    """Builds :class:`FieldSpec` objects from FiftyOne's resolved schema.

    Args:
        label_schema: the ``label_schema`` of a backend config, as resolved by
            FiftyOne's ``annotate()``
        samples (None): the collection being annotated (to read the types of
            existing scalar fields)
        supported_types (None): the normalised types this backend supports

    Returns:
        ``{field: FieldSpec}``, in schema order

    Raises:
        SchemaError: if a field cannot be annotated
    """
    if not label_schema:
        raise SchemaError("The label schema is empty: name at least one field to annotate")

    specs: Fields = {}
    for field, info in label_schema.items():
        info = info or {}
        label_type = info.get("type")
        if label_type not in LABEL_TYPES:
            raise SchemaError(
                "Field '%s' has unknown label type %r; expected one of %s" % (field, label_type, sorted(LABEL_TYPES))
            )
        type_, multiple = LABEL_TYPES[label_type]
        if supported_types is not None and type_ not in supported_types:
            raise SchemaError("Field '%s': label type '%s' is not supported by this backend" % (field, label_type))

        classes, attributes = _parse_classes(field, info.get("classes") or [], info.get("attributes") or {})
        mask_targets = None
        if type_ == "segmentation":
            mask_targets = _parse_mask_targets(field, info.get("mask_targets"))
            classes = [c for v, c in mask_targets.items() if v != 0]

        if type_ not in ("scalar",) and not classes:
            raise SchemaError(
                "Field '%s' has no classes: pass `classes=[...]` or a `label_schema` entry with classes for it" % field
            )
        _check_unique(field, classes)

        spec = FieldSpec(
            name=field,
            type=type_,
            multiple=multiple,
            classes=classes,
            attributes=attributes,
            mask_targets=mask_targets,
            existing=bool(info.get("existing_field", False)),
            allow_additions=info.get("allow_additions", True),
            allow_deletions=info.get("allow_deletions", True),
            allow_label_edits=info.get("allow_label_edits", True),
            allow_spatial_edits=info.get("allow_spatial_edits", True),
        )
        if type_ == "scalar":
            # the raw classes: ``classes`` holds their string forms
            spec.scalar_type = _scalar_type(samples, field, info.get("classes") or [])
        specs[field] = spec
    return specs


def _parse_classes(
    field: str, classes: Iterable[Any], attributes: Mapping[str, Any]
) -> tuple[list[str], dict[str, AttributeSpec]]:
    names: list[str] = []
    attrs: dict[str, Any] = {}
    for entry in classes:
        if isinstance(entry, dict):
            names.extend(str(c) for c in entry.get("classes", []))
            attrs.update(entry.get("attributes") or {})
        else:
            names.append(entry if isinstance(entry, str) else str(entry))
    attrs = dict(attributes, **attrs) if attrs else dict(attributes)

    specs: dict[str, AttributeSpec] = {}
    for name, attr in attrs.items():
        attr = attr or {}
        attr_type = attr.get("type")
        if attr_type not in ATTRIBUTE_TYPES:
            raise SchemaError(
                "Attribute '%s' of field '%s' has type %r; supported types are %s"
                % (name, field, attr_type, list(ATTRIBUTE_TYPES))
            )
        values = attr.get("values")
        if attr_type in ("select", "radio") and not values:
            raise SchemaError("Attribute '%s' of field '%s' (%s) needs a list of `values`" % (name, field, attr_type))
        specs[name] = AttributeSpec(
            name=name,
            type=attr_type,
            values=list(values) if values is not None else None,
            default=attr.get("default"),
        )
    return _dedupe(names), specs


def _dedupe(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _check_unique(field: str, classes: Sequence[str]) -> None:
    if len(set(classes)) != len(classes):
        raise SchemaError("Field '%s' lists a class more than once" % field)


def _parse_mask_targets(field: str, mask_targets: Mapping[Any, Any] | None) -> dict[int, str]:
    if not mask_targets:
        raise SchemaError("Segmentation field '%s' needs `mask_targets` ({pixel value: class})" % field)
    parsed: dict[int, str] = {}
    for value, name in mask_targets.items():
        try:
            key = int(value)
        except (TypeError, ValueError):
            raise SchemaError(
                "Segmentation field '%s': mask target %r is not an integer pixel value "
                "(RGB mask targets are not supported)" % (field, value)
            ) from None
        if not 0 <= key <= 255:
            raise SchemaError("Segmentation field '%s': mask target %d is outside 0-255" % (field, key))
        parsed[key] = str(name)
    return parsed


def _scalar_type(samples: SampleCollection | None, field: str, classes: Sequence[Any]) -> str:
    if samples is not None:
        try:
            import fiftyone as fo

            field_obj = samples.get_field(field)
        except Exception:
            field_obj = None
        if field_obj is not None:
            if isinstance(field_obj, fo.BooleanField):
                return "bool"
            if isinstance(field_obj, fo.IntField):
                return "int"
            if isinstance(field_obj, fo.FloatField):
                return "float"
            if isinstance(field_obj, fo.StringField):
                return "str"
    if classes and all(isinstance(c, bool) for c in classes):
        return "bool"
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "int"
    if classes and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in classes):
        return "float"
    return "str"


_IDENTIFIER_RE = re.compile(r"[^0-9A-Za-z_]+")


def safe_identifier(name: object, taken: Container[str] = (), prefix: str = "f") -> str:
    """A stable identifier made of ``[A-Za-z0-9_]`` for ``name``.

    Args:
        name: any string
        taken: identifiers already used (the result avoids them)
        prefix ("f"): prepended when the name does not start with a letter

    Returns:
        a string
    """
    base = _IDENTIFIER_RE.sub("_", str(name)).strip("_") or prefix
    if not base[0].isalpha():
        base = prefix + "_" + base
    candidate = base
    i = 1
    while candidate in taken:
        i += 1
        candidate = "%s_%d" % (base, i)
    return candidate
