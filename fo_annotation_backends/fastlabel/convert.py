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

from .from_fastlabel import task_to_labels
from .interface import (
    ANNOTATION_TYPES,
    ATTRIBUTE_TYPES,
    CHOICE_TYPES,
    CLASSIFICATION_TYPE,
    IMAGE_ALL,
    IMAGE_CLASSIFICATION,
    MAPPING_VERSION,
    POSE_TYPE,
    FastLabelInterface,
)
from .to_fastlabel import labels_to_task

__all__ = [
    "ANNOTATION_TYPES",
    "ATTRIBUTE_TYPES",
    "CHOICE_TYPES",
    "CLASSIFICATION_TYPE",
    "IMAGE_ALL",
    "IMAGE_CLASSIFICATION",
    "MAPPING_VERSION",
    "POSE_TYPE",
    "FastLabelInterface",
    "labels_to_task",
    "task_to_labels",
]
