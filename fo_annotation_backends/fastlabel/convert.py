"""Conversions between FiftyOne labels and FastLabel's formats.

- :class:`FastLabelInterface`: the label schema as FastLabel annotation
  classes (one project per run), with the class value of every class, the
  key of every attribute and the option value of every choice (kept in the
  run results, see ``to_dict()``).
- :func:`labels_to_task`: the FiftyOne labels of one sample -> the
  annotations (or, in ``image_classification`` projects, the task-level
  attributes) of one FastLabel task, with the FiftyOne part id each
  annotation carries.
- :func:`task_to_labels`: one field of a task as the server returns it ->
  FiftyOne labels under their original ids (through the FastLabel annotation
  ids recorded at upload), new labels under new ids.

FastLabel works in pixels (origin top-left): boxes are ``[x1, y1, x2, y2]``
corners plus a rotation in degrees about the centre, polygons and lines flat
``[x1, y1, x2, y2, ...]`` lists, keypoints ``[x, y]``. Masks travel as
``segmentation`` regions: the exact outlines of :mod:`..core.masks`, every
ring closed (its first point repeated), ring 0 the outer boundary (clockwise
on screen), holes after it; they are read back by rasterising the regions at
the task's pixel size, which gives the very same pixels.

Names: class values, attribute keys and option values are lower-case ASCII
identifiers made unique in the project (``ground_truth-traffic_light``);
titles and names keep the exact FiftyOne strings. Reading back goes only
through the stored identifiers.

Choices made where FastLabel offers several forms:

- classification, classifications and scalar fields are, in ``image_all``
  projects, one ``classification`` class per field (value = the field's key,
  title = the field name) whose first attribute is the choice (key = the
  field's key: ``radio`` for a classification, ``checkbox`` for
  classifications, options ``{title: class, value: key}``), followed by the
  FiftyOne attributes (keys ``<field key>__<attribute>``); a sample's value
  is one annotation of that class. In ``image_classification`` projects
  (every field a classification, classifications or scalar field) the same
  attributes live at the task level.
- the labels of a classifications field share one set of attributes (a
  FastLabel classification has one value per attribute): each attribute is
  sent from the first label that sets it, and read back onto every label.
- scalar fields: ``bool`` -> ``switch`` (a sample whose value is ``None``
  sends nothing, and no annotation reads back as ``None``); with classes ->
  ``radio``; ``int``/``float``/``str`` -> ``text`` (numbers as strings,
  parsed back with :meth:`FieldSpec.parse_scalar`).
- FiftyOne attributes: select -> ``select``, radio -> ``radio`` (options
  from the values), checkbox -> ``switch``, text -> ``text``. Attributes are
  sent on every annotation of a label made of several (polygon shapes,
  keypoints) and read back from the first one (in part order) that sets
  them. An empty value (``""``, ``[]``, ``null``: what FastLabel shows for
  an attribute nobody set) reads back as not set.
- a mask-less segmentation (all regions erased) of an uploaded label reads
  back as an all-zero mask under the label's id.
"""

import math

import numpy as np

import fiftyone.core.labels as fol

from ..core import geometry, masks
from ..core.errors import SchemaError
from ..core.idmap import iter_labels, part_id, split_part_id
from ..core.naming import assign_keys, base_identifier, claim, lower_identifier, unique_strings
from ..core.secrets import get_logger

logger = get_logger(__name__)

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


class FastLabelInterface:
    """The label schema as FastLabel annotation classes (one project per run).

    Args:
        fields: ``{field: FieldSpec}``, in schema order
        skeletons (None): ``{field: KeypointSkeleton}`` for keypoints fields
            drawn as ``pose_estimation`` (one named point per skeleton node)
        mapping (None): a dict returned by :meth:`to_dict` of a stored run:
            its names are reused exactly (and stay reserved)
    """

    def __init__(self, fields, skeletons=None, mapping=None):
        self.fields = dict(fields)
        stored = mapping or {}
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

        self._keys = {}
        self._classes = {}
        self._choices = {}
        self._attributes = {}
        self._options = {}
        self._pose_points = {}
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
        self._field_of_value = {}
        for field in self.fields:
            for value in self._classes.get(field, {}).values():
                self._field_of_value[value] = field
            if field not in self._classes:
                self._field_of_value[self._keys[field]] = field

    # ------------------------------------------------------------------
    # lookups

    @property
    def project_type(self):
        """``image_classification`` when every field is a classification,
        classifications or scalar field, else ``image_all``."""
        return self._project_type

    def needs_image_size(self):
        """Whether uploads need the image's pixel size (every spatial field)."""
        return any(spec.type not in CHOICE_TYPES for spec in self.fields.values())

    def field_key(self, field):
        """The identifier of ``field``: its classification class value and
        choice attribute key, the prefix of its class values and attribute
        keys."""
        return self._keys[field]

    def annotation_type(self, field):
        """The FastLabel annotation type of ``field``'s classes."""
        spec = self.fields[field]
        if spec.type in CHOICE_TYPES:
            return CLASSIFICATION_TYPE
        if self.is_pose(field):
            return POSE_TYPE
        return ANNOTATION_TYPES[spec.type]

    def class_values(self, field):
        """``{class: class value}`` of a spatial field (``{}`` otherwise)."""
        return dict(self._classes.get(field, {}))

    def class_value(self, field, name):
        """The class value of class ``name`` of a spatial field, or ``None``."""
        return self._classes.get(field, {}).get(str(name))

    def class_of_value(self, field, value):
        """The exact class of a class value of ``field``, or ``None``."""
        return self._class_of_value.get(field, {}).get(value)

    def field_of_value(self, value):
        """The field whose class has the value ``value``, or ``None``."""
        return self._field_of_value.get(value)

    def choice_values(self, field):
        """``{class: option value}`` of a choice field's choice attribute."""
        return dict(self._choices[field])

    def choice_of_value(self, field, value):
        """The exact class of an option value of ``field``'s choice, or ``None``."""
        return self._choice_of_value[field].get(value)

    def attribute_keys(self, field):
        """``{attribute: FastLabel attribute key}`` of ``field``."""
        return dict(self._attributes[field])

    def attribute_of_key(self, field, key):
        """The FiftyOne attribute of ``field`` whose key is ``key``, or ``None``."""
        return self._attribute_of_key[field].get(key)

    def option_value(self, field, attribute, value):
        """The option value of a select/radio attribute ``value``, or ``None``."""
        return self._options[field].get(attribute, {}).get(str(value))

    def option_of_value(self, field, attribute, option):
        """The exact ``str(value)`` of an option value, or ``None``."""
        return self._option_of_value[field].get(attribute, {}).get(option)

    def is_pose(self, field):
        """Whether the keypoints of ``field`` are ``pose_estimation`` annotations."""
        return field in self._pose_points

    def pose_keys(self, field):
        """The keypoint keys of a pose field, in skeleton order."""
        return [p["key"] for p in self._pose_points.get(field, [])]

    # ------------------------------------------------------------------
    # serialisation

    def to_dict(self):
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
        }

    # ------------------------------------------------------------------
    # class definitions

    def annotation_classes(self):
        """The bodies of ``POST annotations`` (without ``project``), in
        schema order; ``[]`` for ``image_classification`` projects."""
        if self._project_type == IMAGE_CLASSIFICATION:
            return []
        bodies = []
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
                body = {
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

    def classification_attributes(self):
        """The ``attributes`` of ``POST annotations/classification`` for an
        ``image_classification`` project; ``[]`` for other projects."""
        if self._project_type != IMAGE_CLASSIFICATION:
            return []
        out = []
        for field in self.fields:
            out.extend(self._choice_definitions(field))
        return out

    def _choice_definitions(self, field):
        """The choice attribute of a choice field, then its attributes."""
        spec = self.fields[field]
        key = self._keys[field]
        choices = self._choices[field]
        if spec.type == "classification":
            choice = {"type": "radio", "name": field, "key": key, "options": _options(choices)}
        elif spec.type == "classifications":
            choice = {"type": "checkbox", "name": field, "key": key, "options": _options(choices)}
        elif spec.scalar_type == "bool":
            choice = {"type": "switch", "name": field, "key": key}
        elif choices:
            choice = {"type": "radio", "name": field, "key": key, "options": _options(choices)}
        else:
            choice = {"type": "text", "name": field, "key": key}
        return [choice] + self._attribute_definitions(field)

    def _attribute_definitions(self, field):
        spec = self.fields[field]
        out = []
        for name, key in self._attributes[field].items():
            attr = spec.attributes[name]
            definition = {"type": ATTRIBUTE_TYPES[attr.type], "name": _title(name, key), "key": key}
            if attr.type in ("select", "radio"):
                definition["options"] = _options(self._options[field][name])
            out.append(definition)
        return out


def _class_values(field_key, classes, stored, taken):
    """``{class: value}``: ``<field key>-<class>``, unique in the project."""
    values = {}
    for index, name in enumerate(classes, start=1):
        if name in stored:
            values[name] = stored[name]
        else:
            values[name] = claim("%s-%s" % (field_key, base_identifier(name, "class_%d" % index)), taken)
    return values


def _choice_names(spec):
    """The options of a choice field's choice attribute."""
    if spec.type in ("classification", "classifications"):
        return list(spec.classes)
    if spec.type == "scalar" and spec.scalar_type != "bool":
        return list(spec.classes)
    return []


def _attribute_keys(spec, field_key, stored, taken):
    """``{attribute: key}``: ``<field key>__<attribute>``, unique in the project."""
    if spec.type == "scalar":
        return {}
    keys = {}
    for index, name in enumerate(spec.attributes, start=1):
        if name in stored:
            keys[name] = stored[name]
        else:
            keys[name] = claim("%s__%s" % (field_key, base_identifier(name, "attribute_%d" % index)), taken)
    return keys


def _attribute_options(spec, stored):
    """``{attribute: {str(value): option value}}`` of select/radio attributes."""
    if spec.type == "scalar":
        return {}
    return {
        name: assign_keys(unique_strings(attr.values or []), stored.get(name), "option_%d", "v", upper=False)
        for name, attr in spec.attributes.items()
        if attr.type in ("select", "radio")
    }


def _options(values):
    return [{"title": _title(text, value), "value": value} for text, value in values.items()]


def _title(name, fallback):
    """The exact name, or ``fallback`` when FastLabel would refuse it (blank)."""
    name = str(name)
    return name if name.strip() else fallback


def _point_entry(point):
    return {"key": point["key"], "name": point["name"], "edges": list(point.get("edges") or [])}


def _skeleton_points(skeleton):
    names = [str(n) for n in (skeleton.labels or [])]
    count = max((max(edge) for edge in (skeleton.edges or []) if edge), default=-1) + 1
    if len(names) < count:
        names += [str(i) for i in range(len(names), count)]
    taken = set()
    keys = [lower_identifier(name, taken, "point_%d" % i, "p") for i, name in enumerate(names)]
    edges = [[] for _ in names]
    for chain in skeleton.edges or []:
        for a, b in zip(chain, list(chain)[1:]):
            if a == b:
                continue
            if keys[b] not in edges[a]:
                edges[a].append(keys[b])
            if keys[a] not in edges[b]:
                edges[b].append(keys[a])
    return [{"key": key, "name": name, "edges": edge} for key, name, edge in zip(keys, names, edges)]


# --------------------------------------------------------------------------
# FiftyOne -> FastLabel
# --------------------------------------------------------------------------


def labels_to_task(interface, values, image_size=None):
    """The annotations (or task attributes) of one sample's task.

    Args:
        interface: the :class:`FastLabelInterface`
        values: ``{field: value}`` of the sample (a label, a container, a
            scalar, or ``None``); fields of the interface that are missing
            are left out
        image_size (None): ``(width, height)`` in pixels, required for
            spatial fields (see :meth:`FastLabelInterface.needs_image_size`)

    Returns:
        ``(annotations, attributes, part_ids)``: the task's annotation list
        as sent (``image_all`` projects), the task-level attributes
        (``image_classification`` projects, else ``[]``), and a list aligned
        with ``annotations`` holding the FiftyOne part id each annotation
        carries (the first label's id for a classification(s) annotation,
        ``None`` for a scalar's)
    """
    annotations, attributes, part_ids = [], [], []
    classification_project = interface.project_type == IMAGE_CLASSIFICATION
    for field, spec in interface.fields.items():
        value = values.get(field)
        if value is None:
            continue
        if spec.type in CHOICE_TYPES:
            items = _choice_attribute_values(interface, spec, value)
            if not items:
                continue
            if classification_project:
                attributes.extend(items)
            else:
                annotations.append(
                    {"type": CLASSIFICATION_TYPE, "value": interface.field_key(field), "attributes": items}
                )
                labels = iter_labels(value) if spec.type != "scalar" else []
                part_ids.append(labels[0].id if labels else None)
            continue
        width, height = _require_size(spec, image_size)
        labels = iter_labels(value)
        if spec.type == "segmentation":
            for label in labels[:1]:
                for index, annotation in _segmentation_annotations(interface, spec, label, width, height):
                    annotations.append(annotation)
                    part_ids.append(part_id(label.id, index))
            continue
        for label in labels:
            class_value = interface.class_value(field, label.label)
            if class_value is None:
                logger.warning(
                    "Field '%s': class %r of label %s is not in the label schema; not sent to FastLabel",
                    field,
                    label.label,
                    label.id,
                )
                continue
            label_attributes = _label_attribute_values(interface, spec, label)
            for index, shape in _label_shapes(interface, spec, label, width, height):
                annotation = {"type": interface.annotation_type(field), "value": class_value}
                annotation.update(shape)
                annotation["attributes"] = [dict(a) for a in label_attributes]
                annotations.append(annotation)
                part_ids.append(part_id(label.id, index))
    return annotations, attributes, part_ids


def _require_size(spec, image_size):
    if not image_size or not image_size[0] or not image_size[1]:
        raise ValueError("Field '%s' (%s) needs the image size in pixels" % (spec.name, spec.type))
    return int(image_size[0]), int(image_size[1])


def _attribute_value(interface, spec, name, value):
    """The FastLabel value of FiftyOne attribute ``name``, or ``None``."""
    attr = spec.attributes[name]
    if value is None:
        return None
    if attr.type == "checkbox":
        return bool(value)
    if attr.type == "text":
        return str(value)
    option = interface.option_value(spec.name, name, value)
    if option is None:
        logger.warning(
            "Field '%s': value %r of attribute '%s' is not one of its values; not sent", spec.name, value, name
        )
    return option


def _label_attribute_values(interface, spec, label):
    out = []
    for name, key in interface.attribute_keys(spec.name).items():
        value = _attribute_value(interface, spec, name, label.get_attribute_value(name, None))
        if value is not None:
            out.append({"key": key, "value": value})
    return out


def _choice_attribute_values(interface, spec, value):
    """The choice attribute and attributes of a choice field's value."""
    key = interface.field_key(spec.name)
    if spec.type == "scalar":
        choice = _scalar_choice(interface, spec, value)
        return [] if choice is None else [{"key": key, "value": choice}]

    names = []
    labels = []
    for label in iter_labels(value)[: 1 if spec.type == "classification" else None]:
        option = interface.choice_values(spec.name).get(str(label.label))
        if option is None:
            logger.warning(
                "Field '%s': class %r is not in the label schema; not sent to FastLabel", spec.name, label.label
            )
            continue
        if option not in names:
            names.append(option)
            labels.append(label)
    if not names:
        return []
    items = [{"key": key, "value": names[0] if spec.type == "classification" else names}]
    # one value per attribute: the first label that sets it provides it
    for name, attr_key in interface.attribute_keys(spec.name).items():
        sent = None
        for label in labels:
            raw = label.get_attribute_value(name, None)
            if raw is None:
                continue
            if sent is None:
                sent = _attribute_value(interface, spec, name, raw)
                if sent is not None:
                    items.append({"key": attr_key, "value": sent})
            elif _attribute_value(interface, spec, name, raw) != sent:
                logger.warning(
                    "Field '%s': the labels of a sample disagree on attribute '%s'; FastLabel holds one value "
                    "per classification, the first label's is sent",
                    spec.name,
                    name,
                )
                break
    return items


def _scalar_choice(interface, spec, value):
    if spec.scalar_type == "bool":
        parsed = spec.parse_scalar(value)
        return None if parsed is None else bool(parsed)
    choices = interface.choice_values(spec.name)
    if choices:
        option = choices.get(str(value))
        if option is None:
            logger.warning("Field '%s': value %r is not one of its classes; not sent to FastLabel", spec.name, value)
        return option
    if spec.scalar_type == "float" and not isinstance(value, str):
        return repr(float(value))
    if spec.scalar_type == "int" and not isinstance(value, str):
        return str(int(value))
    return str(value)


def _label_shapes(interface, spec, label, width, height):
    """``[(part index, shape keys)]`` of one label."""
    if spec.type == "detections":
        if label.bounding_box is None:
            return []
        x, y, w, h = (float(v) for v in label.bounding_box)
        xs = sorted((x * width, (x + w) * width))
        ys = sorted((y * height, (y + h) * height))
        return [(0, {"points": [xs[0], ys[0], xs[1], ys[1]], "rotation": 0})]
    if spec.type in ("polygons", "polylines"):
        minimum = 3 if spec.type == "polygons" else 2
        out = []
        for index, shape in enumerate(label.points or []):
            ring = [list(p) for p in shape]
            if spec.type == "polygons" and len(ring) > 1 and ring[0] == ring[-1]:
                ring = ring[:-1]  # FastLabel's polygons are not closed
            if len(ring) < minimum or any(_is_missing(p) for p in ring):
                logger.warning(
                    "Field '%s': shape %d of label %s has fewer than %d points; not sent",
                    spec.name,
                    index,
                    label.id,
                    minimum,
                )
                continue
            out.append((index, {"points": _flat(ring, width, height)}))
        return out
    if spec.type == "keypoints":
        if interface.is_pose(spec.name):
            return [(0, {"keypoints": _pose_keypoints(interface, spec, label, width, height)})]
        return [
            (index, {"points": _flat([point], width, height)})
            for index, point in enumerate(label.points or [])
            if not _is_missing(point)
        ]
    if spec.type == "instances":
        if label.bounding_box is None:
            return []
        mask = label.get_mask() if hasattr(label, "get_mask") else label.mask
        full = geometry.instance_to_full_mask(label.bounding_box, mask, width, height)
        regions = _regions(masks.mask_to_polygons(full), 1.0, 1.0)
        if not regions:
            logger.warning("Field '%s': instance %s has an empty mask; not sent", spec.name, label.id)
            return []
        return [(0, {"points": regions})]
    raise ValueError("Unsupported label type %s" % spec.type)


def _flat(points, width, height):
    out = []
    for x, y in (p[:2] for p in points):
        out.extend((float(x) * width, float(y) * height))
    return out


def _pose_keypoints(interface, spec, label, width, height):
    keys = interface.pose_keys(spec.name)
    points = list(label.points or [])
    if len(points) > len(keys):
        logger.warning(
            "Field '%s': keypoint %s has %d points but the skeleton %d; the extra points are not sent "
            "(and are kept as they are on download)",
            spec.name,
            label.id,
            len(points),
            len(keys),
        )
    out = []
    for index, key in enumerate(keys):
        point = points[index] if index < len(points) else None
        if _is_missing(point):
            out.append({"key": key, "value": []})
        else:
            out.append({"key": key, "value": _flat([point], width, height) + [VISIBLE]})
    return out


def _regions(polygons, sx, sy):
    """``core.masks`` polygons -> FastLabel regions: closed flat rings."""
    regions = []
    for polygon in polygons:
        region = []
        for ring in polygon:
            ring = np.asarray(ring, dtype=float) * [sx, sy]
            closed = np.concatenate([ring, ring[:1]])
            region.append([float(v) for v in closed.reshape(-1)])
        regions.append(region)
    return regions


def _segmentation_annotations(interface, spec, label, width, height):
    """``[(pixel value, annotation)]``: one annotation per class present."""
    mask = label.get_mask() if hasattr(label, "get_mask") else label.mask
    if mask is None:
        return []
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[:, :, 0]
    # the mask may have another resolution than the image: scale to pixels
    mask_height, mask_width = mask.shape
    sx, sy = width / float(mask_width), height / float(mask_height)
    unknown = sorted(set(np.unique(mask).tolist()) - set(spec.mask_targets) - {0})
    if unknown:
        logger.warning(
            "Field '%s': mask values %s of segmentation %s are not mask targets; not sent",
            spec.name,
            unknown,
            label.id,
        )
    out = []
    for value, name in sorted(spec.mask_targets.items()):
        class_value = interface.class_value(spec.name, name)
        if value == 0 or class_value is None:
            continue
        regions = _regions(masks.mask_to_polygons(mask == value), sx, sy)
        if regions:
            annotation = {"type": "segmentation", "value": class_value, "points": regions, "attributes": []}
            out.append((value, annotation))
    return out


def _is_missing(point):
    if point is None or len(point) < 2:
        return True
    try:
        return math.isnan(point[0]) or math.isnan(point[1])
    except TypeError:
        return True


# --------------------------------------------------------------------------
# FastLabel -> FiftyOne
# --------------------------------------------------------------------------


def task_to_labels(interface, spec, task, annotation_ids, current_labels):
    """The FiftyOne labels of one field in one FastLabel task.

    Args:
        interface: the :class:`FastLabelInterface`
        spec: the field's ``FieldSpec``
        task: the task as the server returns it (``width``, ``height``,
            ``annotations``, or ``attributes`` for image_classification
            tasks)
        annotation_ids: ``{FastLabel annotation id: FiftyOne part id}``
            recorded at upload; an annotation whose id is not in it is new
        current_labels: ``{label_id: Label}`` of this field's uploaded labels
            that still exist in the dataset (for ids, closed/filled flags,
            keypoint point counts and mask resolutions)

    Returns:
        ``{label_id: Label}``, or the scalar value (or ``None``) for scalar
        fields
    """
    task = task or {}
    annotation_ids = annotation_ids or {}
    current_labels = current_labels or {}
    if spec.type in CHOICE_TYPES:
        values = _choice_values(interface, spec, task)
        if spec.type == "scalar":
            return _scalar_from_values(interface, spec, values)
        return _classifications_from_values(interface, spec, values, current_labels)

    # the annotator's annotations of this field, in task order
    expected = interface.annotation_type(spec.name)
    report = spec.name == interface.first_spatial_field  # unknown classes: warned once per task
    mine = []
    for position, item in enumerate(task.get("annotations") or []):
        if not isinstance(item, dict):
            continue
        value = item.get("value")
        field = interface.field_of_value(value)
        if field is None:
            if report:
                logger.warning(
                    "Task %s: FastLabel class %r is not in the label schema (added on the server?); skipped",
                    task.get("id"),
                    value,
                )
            continue
        if field != spec.name:
            continue
        if item.get("type") != expected:
            logger.warning(
                "Field '%s': annotation %s is a %s annotation, expected %s; skipped",
                spec.name,
                item.get("id"),
                item.get("type"),
                expected,
            )
            continue
        mine.append((position, interface.class_of_value(spec.name, value), item))

    width, height = _task_size(spec, task)
    if spec.type == "segmentation":
        return _segmentation_from_annotations(spec, mine, annotation_ids, current_labels, width, height)
    return _objects_from_annotations(interface, spec, mine, annotation_ids, current_labels, width, height)


def _task_size(spec, task):
    width, height = task.get("width"), task.get("height")
    if not width or not height:
        raise ValueError("Field '%s' (%s): the task has no width/height" % (spec.name, spec.type))
    return int(width), int(height)


def _attribute_items(items):
    """``{key: value}`` of ``[{key, value}]``: the first non-empty value of
    each key."""
    out = {}
    for item in items or []:
        if not isinstance(item, dict):
            continue
        key, value = item.get("key"), item.get("value")
        if key not in out and not _is_empty(value):
            out[key] = value
    return out


def _is_empty(value):
    """Whether an attribute value is FastLabel's "not set" (null, "" or [])."""
    return value is None or (isinstance(value, (str, list)) and not value)


def _choice_values(interface, spec, task):
    """``{attribute key: value}`` of a choice field in a task."""
    if interface.project_type == IMAGE_CLASSIFICATION:
        items = task.get("attributes") or []
        if spec.name == next(iter(interface.fields)):
            known = {interface.field_key(f) for f in interface.fields}
            for f in interface.fields:
                known.update(interface.attribute_keys(f).values())
            for item in items:
                key = item.get("key") if isinstance(item, dict) else None
                if key not in known:
                    logger.warning("Task %s: attribute %r is not in the label schema; skipped", task.get("id"), key)
        return _attribute_items(items)
    key = interface.field_key(spec.name)
    items = []
    for item in task.get("annotations") or []:
        if isinstance(item, dict) and item.get("type") == CLASSIFICATION_TYPE and item.get("value") == key:
            items.extend(item.get("attributes") or [])
    return _attribute_items(items)


def _scalar_from_values(interface, spec, values):
    raw = values.get(interface.field_key(spec.name))
    if raw is None:
        return None
    if spec.scalar_type == "bool":
        return spec.parse_scalar(raw)
    if interface.choice_values(spec.name):
        name = interface.choice_of_value(spec.name, raw)
        if name is None:
            _warn_unknown_option(spec, spec.name, raw)
            return None
        return spec.parse_scalar(name)
    if raw == "" and spec.scalar_type != "str":
        return None
    return spec.parse_scalar(raw)


def _warn_unknown_option(spec, attribute, option):
    logger.warning(
        "Field '%s': option %r of '%s' is not in the label schema (added on the server?); skipped",
        spec.name,
        option,
        attribute,
    )


def _parse_attributes(interface, spec, values, new):
    """Typed FiftyOne attributes from ``{attribute key: value}``."""
    found = {}
    for key, raw in values.items():
        name = interface.attribute_of_key(spec.name, key)
        if name is None or name in found or _is_empty(raw):
            continue
        attr = spec.attributes[name]
        if attr.type in ("select", "radio"):
            text = interface.option_of_value(spec.name, name, raw) if isinstance(raw, str) else None
            if text is None:
                _warn_unknown_option(spec, name, raw)
                continue
            found[name] = attr.parse(text)
        elif attr.type == "checkbox":
            found[name] = attr.parse(raw)
        else:
            found[name] = attr.parse(raw if isinstance(raw, str) else str(raw))
    return spec.complete_attributes(found, new)


def _classifications_from_values(interface, spec, values, current_labels):
    raw = values.get(interface.field_key(spec.name))
    if raw is None:
        return {}
    options = raw if isinstance(raw, list) else [raw]
    by_name = {label.label: label_id for label_id, label in current_labels.items()}
    single_id = next(iter(current_labels), None) if spec.type == "classification" else None
    labels = {}
    seen = set()
    for option in options:
        name = interface.choice_of_value(spec.name, option) if isinstance(option, str) else None
        if name is None:
            _warn_unknown_option(spec, spec.name, option)
            continue
        if name in seen:
            continue
        seen.add(name)
        label_id = single_id or by_name.get(name)
        attributes = _parse_attributes(interface, spec, values, new=label_id is None)
        label = fol.Classification(label=name, **attributes)
        if label_id is not None:
            label.id = label_id
        labels[label.id] = label
        if spec.type == "classification":
            break
    return labels


def _objects_from_annotations(interface, spec, mine, annotation_ids, current_labels, width, height):
    # the annotations of one FiftyOne label share its id (part ids); others are new
    groups = {}
    for position, name, item in mine:
        known = annotation_ids.get(item.get("id"))
        base_id, index = split_part_id(known) if isinstance(known, str) else (None, None)
        if base_id not in current_labels:
            base_id, index = None, 0
        key = base_id or "new-%d" % position
        groups.setdefault(key, []).append((index, name, item))

    labels = {}
    for key, group in groups.items():
        group.sort(key=lambda entry: entry[0])
        existing = key in current_labels
        values = _attribute_items([a for _, _, item in group for a in item.get("attributes") or []])
        attributes = _parse_attributes(interface, spec, values, new=not existing)
        current = current_labels.get(key) if existing else None
        parts = [(index, item) for index, _, item in group]
        label = _make_label(interface, spec, group[0][1], parts, attributes, current, width, height)
        if label is None:
            continue
        if existing:
            label.id = key
        labels[label.id] = label
    return labels


def _make_label(interface, spec, name, parts, attributes, current, width, height):
    if spec.type == "detections":
        item = parts[0][1]
        box = _box_of(item.get("points"), item.get("rotation"), width, height)
        if box is None:
            return None
        return fol.Detection(label=name, bounding_box=box, **attributes)
    if spec.type in ("polygons", "polylines"):
        shapes = [shape for shape in (_points_of(item.get("points"), width, height) for _, item in parts) if shape]
        if not shapes:
            return None
        if current is not None:
            closed, filled = bool(current.closed), bool(current.filled)
        else:
            closed = filled = spec.type == "polygons"
        return fol.Polyline(label=name, points=shapes, closed=closed, filled=filled, **attributes)
    if spec.type == "keypoints":
        if interface.is_pose(spec.name):
            points = _pose_points(interface, spec, parts[0][1], current, width, height)
        else:
            points = _keypoint_points(parts, current, width, height)
        if points is None:
            return None
        return fol.Keypoint(label=name, points=points, **attributes)
    if spec.type == "instances":
        polygons = [polygon for _, item in parts for polygon in _polygons_of(item.get("points"))]
        full = masks.polygons_to_mask(polygons, width, height)
        instance = geometry.full_mask_to_instance(full)
        if instance is None:
            return None
        box, mask = instance
        return fol.Detection(label=name, bounding_box=box, mask=mask, **attributes)
    raise ValueError("Unsupported label type %s" % spec.type)


def _numbers(points):
    if not isinstance(points, list):
        return None
    try:
        return [float(v) for v in points]
    except (TypeError, ValueError):
        return None


def _box_of(points, rotation, width, height):
    """``[x1, y1, x2, y2]`` rotated by ``rotation`` degrees about its centre
    -> the normalised ``[x, y, w, h]`` box that encloses it, clipped."""
    points = _numbers(points)
    if points is None or len(points) != 4:
        return None
    x1, y1, x2, y2 = points
    rotation = float(rotation or 0)
    if rotation % 360:
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        theta = math.radians(rotation)
        cos, sin = math.cos(theta), math.sin(theta)
        corners = []
        for dx, dy in ((x1 - cx, y1 - cy), (x2 - cx, y1 - cy), (x2 - cx, y2 - cy), (x1 - cx, y2 - cy)):
            corners.append([cx + dx * cos - dy * sin, cy + dx * sin + dy * cos])
        x1, y1, bw, bh = geometry.corners_to_box(corners)
        x2, y2 = x1 + bw, y1 + bh
    box = [x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height]
    if box[0] < 0 or box[1] < 0 or box[0] + box[2] > 1 or box[1] + box[3] > 1:
        box = geometry.clip_box(box)
    return box


def _points_of(points, width, height):
    """A flat pixel list -> ``[[x, y], ...]`` normalised, or ``None``."""
    points = _numbers(points)
    if not points or len(points) % 2:
        return None
    return [[points[i] / width, points[i + 1] / height] for i in range(0, len(points), 2)]


def _keypoint_points(parts, current, width, height):
    count = len(current.points) if current is not None and current.points else 0
    count = max([count] + [index + 1 for index, _ in parts])
    points = [[float("nan"), float("nan")] for _ in range(count)]
    placed = False
    for index, item in parts:
        point = _points_of(item.get("points"), width, height)
        if point:
            points[index] = point[0]
            placed = True
    return points if placed else None


def _pose_points(interface, spec, item, current, width, height):
    keys = interface.pose_keys(spec.name)
    index_of = {key: i for i, key in enumerate(keys)}
    points = [[float("nan"), float("nan")] for _ in keys]
    for entry in item.get("keypoints") or []:
        if not isinstance(entry, dict):
            continue
        index = index_of.get(entry.get("key"))
        if index is None:
            logger.warning("Field '%s': unknown pose keypoint %r; skipped", spec.name, entry.get("key"))
            continue
        value = _numbers(entry.get("value"))
        if value and len(value) >= 2:
            points[index] = [value[0] / width, value[1] / height]
    if current is not None and current.points is not None:
        known = len(current.points)
        if known > len(keys):
            # points beyond the skeleton were never sent: keep them
            points.extend([list(p) for p in current.points[len(keys) :]])
        else:
            # a label with fewer points than the skeleton keeps its length
            # unless the annotator placed the points beyond it
            while len(points) > known and _is_missing(points[-1]):
                points.pop()
    return points


def _polygons_of(points):
    """Segmentation regions -> ``[[ring, ...], ...]`` of ``(N, 2)`` pixel arrays."""
    polygons = []
    for region in points if isinstance(points, list) else []:
        rings = []
        for ring in region if isinstance(region, list) else []:
            values = _numbers(ring)
            if values and len(values) >= 6 and len(values) % 2 == 0:
                rings.append(np.asarray(values, dtype=float).reshape(-1, 2))
        if rings:
            polygons.append(rings)
    return polygons


def _segmentation_from_annotations(spec, mine, annotation_ids, current_labels, width, height):
    label_id = None
    for _, _, item in mine:
        base_id, _ = split_part_id(annotation_ids.get(item.get("id")) or "")
        if base_id in current_labels:
            label_id = base_id
            break
    if label_id is None:
        label_id = next(iter(current_labels), None)
    if not mine and label_id is None:
        return {}

    # drawn at the resolution of the uploaded mask when there is one
    current = current_labels.get(label_id) if label_id is not None else None
    current_mask = current.get_mask() if current is not None else None
    dtype = np.uint8
    mask_width, mask_height = width, height
    if current_mask is not None:
        current_mask = np.asarray(current_mask)
        mask_height, mask_width = current_mask.shape[:2]
        if np.issubdtype(current_mask.dtype, np.integer):
            dtype = current_mask.dtype
    scale = np.array([mask_width / float(width), mask_height / float(height)])

    class_to_value = spec.class_to_value
    mask = np.zeros((mask_height, mask_width), dtype=dtype)
    for _, name, item in mine:
        if name not in class_to_value:
            continue
        polygons = [[ring * scale for ring in polygon] for polygon in _polygons_of(item.get("points"))]
        mask[masks.polygons_to_mask(polygons, mask_width, mask_height)] = class_to_value[name]
    label = fol.Segmentation(mask=mask)
    if label_id is not None:
        label.id = label_id
    return {label.id: label}
