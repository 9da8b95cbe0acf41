"""The label schema as FastLabel annotation classes: :class:`FastLabelInterface`.

Names: class values, attribute keys and option values are lower-case ASCII
identifiers made unique in the project (``ground_truth-traffic_light``);
titles and names keep the exact FiftyOne strings. Reading back goes only
through the stored identifiers (``FastLabelInterface.to_dict()``, kept in the
run results). See :mod:`.convert` for the choices made per label type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from ..core.errors import SchemaError
from ..core.naming import assign_keys, base_identifier, claim, lower_identifier, unique_strings
from ..core.schema import Fields, FieldSpec

if TYPE_CHECKING:
    from fiftyone.core.odm.dataset import KeypointSkeleton

MAPPING_VERSION = 1

IMAGE_ALL = "image_all"
IMAGE_CLASSIFICATION = "image_classification"

#: field types that are a choice (classification-typed class or task attributes)
CHOICE_TYPES = ("classification", "classifications", "scalar")

#: normalised label type -> FastLabel annotation type
ANNOTATION_TYPES = {
    "detections": "bbox",
    "polygons": "polygon",
    "polylines": "line",
    "keypoints": "keypoint",
    "instances": "segmentation",
    "segmentation": "segmentation",
}
POSE_TYPE = "pose_estimation"
CLASSIFICATION_TYPE = "classification"

#: FiftyOne attribute type -> FastLabel attribute type
ATTRIBUTE_TYPES = {"select": "select", "radio": "radio", "checkbox": "switch", "text": "text"}

#: the visibility sent with every placed pose point (1: visible)
VISIBLE = 1

#: a body of FastLabel's REST API (an annotation class, an attribute), JSON
Json = dict[str, Any]


class PosePoint(TypedDict):
    """A keypoint of a ``pose_estimation`` class."""

    key: str
    name: str
    #: the keys of the points it is connected to
    edges: list[str]


class FastLabelMapping(TypedDict):
    """The names of a :class:`FastLabelInterface`, as stored with a run (:meth:`FastLabelInterface.to_dict`)."""

    version: int
    project_type: str
    #: ``{field: field key}``
    fields: dict[str, str]
    #: ``{field: {class: class value}}`` of spatial fields
    classes: dict[str, dict[str, str]]
    #: ``{field: {class: option value}}`` of choice fields
    choices: dict[str, dict[str, str]]
    #: ``{field: {attribute: attribute key}}``
    attributes: dict[str, dict[str, str]]
    #: ``{field: {attribute: {str(value): option value}}}``
    attribute_options: dict[str, dict[str, dict[str, str]]]
    pose_points: dict[str, list[PosePoint]]
    #: the new scalar fields read back as numbers
    numeric_scalars: list[str]


class FastLabelInterface:
    """The label schema as FastLabel annotation classes (one project per run).

    Args:
        fields: ``{field: FieldSpec}``, in schema order
        skeletons (None): ``{field: KeypointSkeleton}`` for keypoints fields
            drawn as ``pose_estimation`` (one named point per skeleton node)
        mapping (None): a dict returned by :meth:`to_dict` of a stored run:
            its names are reused exactly (and stay reserved)
        new_fields (()): the fields the dataset does not have yet; a new
            ``scalar`` field without classes is numeric (the text typed in
            FastLabel comes back as an int or a float)
    """

    def __init__(
        self,
        fields: Fields,
        skeletons: Mapping[str, KeypointSkeleton] | None = None,
        mapping: Mapping[str, Any] | None = None,
        new_fields: Iterable[str] = (),
    ) -> None:
        self.fields = dict(fields)
        stored = mapping or {}
        if "numeric_scalars" in stored:
            self._numeric = set(stored["numeric_scalars"] or [])
        else:
            self._numeric = {
                f
                for f, s in self.fields.items()
                if f in set(new_fields) and s.type == "scalar" and not s.classes and s.scalar_type == "str"
            }
        skeletons = skeletons or {}
        stored_fields = stored.get("fields") or {}
        stored_classes = stored.get("classes") or {}
        stored_choices = stored.get("choices") or {}
        stored_attributes = stored.get("attributes") or {}
        stored_options = stored.get("attribute_options") or {}
        stored_points = stored.get("pose_points") or {}

        all_choices = bool(self.fields) and all(s.type in CHOICE_TYPES for s in self.fields.values())
        self._project_type = stored.get("project_type") or (IMAGE_CLASSIFICATION if all_choices else IMAGE_ALL)
        if self._project_type == IMAGE_CLASSIFICATION and not all_choices:
            raise SchemaError(
                "The stored FastLabel project is an image_classification project: it cannot hold the fields %s"
                % ", ".join(repr(f) for f, s in self.fields.items() if s.type not in CHOICE_TYPES)
            )

        # one namespace for field keys, class values and attribute keys;
        # stored names stay reserved, even for fields no longer annotated
        taken = set(stored_fields.values())
        for names in list(stored_classes.values()) + list(stored_attributes.values()):
            taken.update(names.values())

        self._keys: dict[str, str] = {}
        self._classes: dict[str, dict[str, str]] = {}
        self._choices: dict[str, dict[str, str]] = {}
        self._attributes: dict[str, dict[str, str]] = {}
        self._options: dict[str, dict[str, dict[str, str]]] = {}
        self._pose_points: dict[str, list[PosePoint]] = {}
        for index, (field, spec) in enumerate(self.fields.items(), start=1):
            key = stored_fields.get(field) or lower_identifier(field, taken, "field_%d" % index, "f")
            self._keys[field] = key
            if spec.type not in CHOICE_TYPES:
                self._classes[field] = _class_values(key, spec.classes, stored_classes.get(field) or {}, taken)
            self._choices[field] = assign_keys(
                _choice_names(spec), stored_choices.get(field), "option_%d", "v", upper=False
            )
            self._attributes[field] = _attribute_keys(spec, key, stored_attributes.get(field) or {}, taken)
            self._options[field] = _attribute_options(spec, stored_options.get(field) or {})
            # a field of a stored run keeps its annotation type (pose or keypoints)
            if field in stored_points:
                self._pose_points[field] = [_point_entry(p) for p in stored_points[field]]
            elif field not in stored_fields and spec.type == "keypoints" and skeletons.get(field) is not None:
                self._pose_points[field] = _skeleton_points(skeletons[field])

        self._class_of_value = {f: {v: c for c, v in values.items()} for f, values in self._classes.items()}
        self._choice_of_value = {f: {v: c for c, v in values.items()} for f, values in self._choices.items()}
        self._attribute_of_key = {f: {k: a for a, k in keys.items()} for f, keys in self._attributes.items()}
        self._option_of_value = {
            f: {a: {v: text for text, v in values.items()} for a, values in options.items()}
            for f, options in self._options.items()
        }
        self.first_spatial_field = next((f for f, s in self.fields.items() if s.type not in CHOICE_TYPES), None)
        # class value -> field, for every class of the project
        self._field_of_value: dict[str, str] = {}
        for field in self.fields:
            for value in self._classes.get(field, {}).values():
                self._field_of_value[value] = field
            if field not in self._classes:
                self._field_of_value[self._keys[field]] = field

    # ------------------------------------------------------------------
    # lookups

    @property
    def project_type(self) -> str:
        """``image_classification`` when every field is a classification,
        classifications or scalar field, else ``image_all``."""
        return self._project_type

    def needs_image_size(self) -> bool:
        """Whether uploads need the image's pixel size (every spatial field)."""
        return any(spec.type not in CHOICE_TYPES for spec in self.fields.values())

    def field_key(self, field: str) -> str:
        """The identifier of ``field``: its classification class value and
        choice attribute key, the prefix of its class values and attribute
        keys."""
        return self._keys[field]

    def annotation_type(self, field: str) -> str:
        """The FastLabel annotation type of ``field``'s classes."""
        spec = self.fields[field]
        if spec.type in CHOICE_TYPES:
            return CLASSIFICATION_TYPE
        if self.is_pose(field):
            return POSE_TYPE
        return ANNOTATION_TYPES[spec.type]

    def class_values(self, field: str) -> dict[str, str]:
        """``{class: class value}`` of a spatial field (``{}`` otherwise)."""
        return dict(self._classes.get(field, {}))

    def class_value(self, field: str, name: object) -> str | None:
        """The class value of class ``name`` of a spatial field, or ``None``."""
        return self._classes.get(field, {}).get(str(name))

    def class_of_value(self, field: str, value: str) -> str | None:
        """The exact class of a class value of ``field``, or ``None``."""
        return self._class_of_value.get(field, {}).get(value)

    def field_of_value(self, value: str) -> str | None:
        """The field whose class has the value ``value``, or ``None``."""
        return self._field_of_value.get(value)

    def choice_values(self, field: str) -> dict[str, str]:
        """``{class: option value}`` of a choice field's choice attribute."""
        return dict(self._choices[field])

    def choice_of_value(self, field: str, value: str) -> str | None:
        """The exact class of an option value of ``field``'s choice, or ``None``."""
        return self._choice_of_value[field].get(value)

    def attribute_keys(self, field: str) -> dict[str, str]:
        """``{attribute: FastLabel attribute key}`` of ``field``."""
        return dict(self._attributes[field])

    def attribute_of_key(self, field: str, key: str) -> str | None:
        """The FiftyOne attribute of ``field`` whose key is ``key``, or ``None``."""
        return self._attribute_of_key[field].get(key)

    def option_value(self, field: str, attribute: str, value: object) -> str | None:
        """The option value of a select/radio attribute ``value``, or ``None``."""
        return self._options[field].get(attribute, {}).get(str(value))

    def option_of_value(self, field: str, attribute: str, option: str) -> str | None:
        """The exact ``str(value)`` of an option value, or ``None``."""
        return self._option_of_value[field].get(attribute, {}).get(option)

    def is_numeric_scalar(self, field: str) -> bool:
        """Whether ``field`` is a new scalar field read back as numbers."""
        return field in self._numeric

    def is_pose(self, field: str) -> bool:
        """Whether the keypoints of ``field`` are ``pose_estimation`` annotations."""
        return field in self._pose_points

    def pose_keys(self, field: str) -> list[str]:
        """The keypoint keys of a pose field, in skeleton order."""
        return [p["key"] for p in self._pose_points.get(field, [])]

    # ------------------------------------------------------------------
    # serialisation

    def to_dict(self) -> FastLabelMapping:
        """The names of this interface, JSON-able, for the ``mapping``
        argument of :class:`FastLabelInterface`."""
        return {
            "version": MAPPING_VERSION,
            "project_type": self._project_type,
            "fields": dict(self._keys),
            "classes": {f: dict(values) for f, values in self._classes.items()},
            "choices": {f: dict(values) for f, values in self._choices.items() if values},
            "attributes": {f: dict(keys) for f, keys in self._attributes.items() if keys},
            "attribute_options": {
                f: {a: dict(values) for a, values in options.items()} for f, options in self._options.items() if options
            },
            "pose_points": {f: [_point_entry(p) for p in points] for f, points in self._pose_points.items()},
            "numeric_scalars": sorted(self._numeric),
        }

    # ------------------------------------------------------------------
    # class definitions

    def annotation_classes(self) -> list[Json]:
        """The bodies of ``POST annotations`` (without ``project``), in
        schema order; ``[]`` for ``image_classification`` projects."""
        if self._project_type == IMAGE_CLASSIFICATION:
            return []
        bodies: list[Json] = []
        for field, spec in self.fields.items():
            if spec.type in CHOICE_TYPES:
                bodies.append(
                    {
                        "type": CLASSIFICATION_TYPE,
                        "value": self._keys[field],
                        "title": _title(field, self._keys[field]),
                        "attributes": self._choice_definitions(field),
                    }
                )
                continue
            attributes = self._attribute_definitions(field)
            for name, value in self._classes[field].items():
                body: Json = {
                    "type": self.annotation_type(field),
                    "value": value,
                    "title": _title(name, value),
                    "attributes": [dict(a) for a in attributes],
                }
                if body["type"] == "segmentation":
                    body["maxAreaCount"] = None  # any number of regions
                if body["type"] == POSE_TYPE:
                    body["keypoints"] = [_point_entry(p) for p in self._pose_points[field]]
                bodies.append(body)
        return bodies

    def classification_attributes(self) -> list[Json]:
        """The ``attributes`` of ``POST annotations/classification`` for an
        ``image_classification`` project; ``[]`` for other projects."""
        if self._project_type != IMAGE_CLASSIFICATION:
            return []
        out: list[Json] = []
        for field in self.fields:
            out.extend(self._choice_definitions(field))
        return out

    def _choice_definitions(self, field: str) -> list[Json]:
        """The choice attribute of a choice field, then its attributes."""
        spec = self.fields[field]
        key = self._keys[field]
        choices = self._choices[field]
        if spec.type == "classification":
            choice: Json = {"type": "radio", "name": field, "key": key, "options": _options(choices)}
        elif spec.type == "classifications":
            choice = {"type": "checkbox", "name": field, "key": key, "options": _options(choices)}
        elif spec.scalar_type == "bool":
            choice = {"type": "switch", "name": field, "key": key}
        elif choices:
            choice = {"type": "radio", "name": field, "key": key, "options": _options(choices)}
        else:
            choice = {"type": "text", "name": field, "key": key}
        return [choice] + self._attribute_definitions(field)

    def _attribute_definitions(self, field: str) -> list[Json]:
        spec = self.fields[field]
        out: list[Json] = []
        for name, key in self._attributes[field].items():
            attr = spec.attributes[name]
            definition: Json = {"type": ATTRIBUTE_TYPES[attr.type], "name": _title(name, key), "key": key}
            if attr.type in ("select", "radio"):
                definition["options"] = _options(self._options[field][name])
            out.append(definition)
        return out


def _class_values(field_key: str, classes: Iterable[str], stored: Mapping[str, str], taken: set[str]) -> dict[str, str]:
    """``{class: value}``: ``<field key>-<class>``, unique in the project."""
    values: dict[str, str] = {}
    for index, name in enumerate(classes, start=1):
        if name in stored:
            values[name] = stored[name]
        else:
            values[name] = claim("%s-%s" % (field_key, base_identifier(name, "class_%d" % index)), taken)
    return values


def _choice_names(spec: FieldSpec) -> list[str]:
    """The options of a choice field's choice attribute."""
    if spec.type in ("classification", "classifications"):
        return list(spec.classes)
    if spec.type == "scalar" and spec.scalar_type != "bool":
        return list(spec.classes)
    return []


def _attribute_keys(spec: FieldSpec, field_key: str, stored: Mapping[str, str], taken: set[str]) -> dict[str, str]:
    """``{attribute: key}``: ``<field key>__<attribute>``, unique in the project."""
    if spec.type == "scalar":
        return {}
    keys: dict[str, str] = {}
    for index, name in enumerate(spec.attributes, start=1):
        if name in stored:
            keys[name] = stored[name]
        else:
            keys[name] = claim("%s__%s" % (field_key, base_identifier(name, "attribute_%d" % index)), taken)
    return keys


def _attribute_options(spec: FieldSpec, stored: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """``{attribute: {str(value): option value}}`` of select/radio attributes."""
    if spec.type == "scalar":
        return {}
    return {
        name: assign_keys(unique_strings(attr.values or []), stored.get(name), "option_%d", "v", upper=False)
        for name, attr in spec.attributes.items()
        if attr.type in ("select", "radio")
    }


def _options(values: Mapping[str, str]) -> list[Json]:
    return [{"title": _title(text, value), "value": value} for text, value in values.items()]


def _title(name: object, fallback: str) -> str:
    """The exact name, or ``fallback`` when FastLabel would refuse it (blank)."""
    name = str(name)
    return name if name.strip() else fallback


def _point_entry(point: Mapping[str, Any]) -> PosePoint:
    return {"key": point["key"], "name": point["name"], "edges": list(point.get("edges") or [])}


def _skeleton_points(skeleton: KeypointSkeleton) -> list[PosePoint]:
    names = [str(n) for n in (skeleton.labels or [])]
    count = max((max(edge) for edge in (skeleton.edges or []) if edge), default=-1) + 1
    if len(names) < count:
        names += [str(i) for i in range(len(names), count)]
    taken: set[str] = set()
    keys = [lower_identifier(name, taken, "point_%d" % i, "p") for i, name in enumerate(names)]
    edges: list[list[str]] = [[] for _ in names]
    for chain in skeleton.edges or []:
        for a, b in zip(chain, list(chain)[1:]):
            if a == b:
                continue
            if keys[b] not in edges[a]:
                edges[a].append(keys[b])
            if keys[a] not in edges[b]:
                edges[b].append(keys[a])
    return [{"key": key, "name": name, "edges": edge} for key, name, edge in zip(keys, names, edges)]
