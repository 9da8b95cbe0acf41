"""The label schema as a Kili ``jsonInterface`` (:class:`KiliInterface`).

One job per field, attributes as child jobs shared by the field's
categories, safe category keys that map back to the exact class names. The
names are kept with the run (``to_dict()``), so that a stored run maps its
keys back exactly, whatever the naming rules become.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from ..core.naming import assign_keys, claim, unique_strings, upper_identifier
from ..core.schema import AttributeSpec, Fields, FieldSpec

if TYPE_CHECKING:
    from fiftyone.core.odm.dataset import KeypointSkeleton

TOOLS = {
    "detections": "rectangle",
    "polygons": "polygon",
    "polylines": "polyline",
    "instances": "semantic",
    "segmentation": "semantic",
    "keypoints": "marker",
}
POSE_TOOL = "pose"

#: the single category of a checkbox (boolean) attribute's child job
CHECKBOX_KEY = "YES"
CONFIDENCE = 100
MAPPING_VERSION = 1

_COLORS = (
    "#472CED", "#5CE7B7", "#D33BCE", "#FB753C", "#3BCADB", "#733AFB",
    "#3CD876", "#E5D037", "#E83F59", "#1F8AE5", "#9B5C2E", "#7A8C99",
)  # fmt: skip


#: a job of a ``jsonInterface``, JSON
Job = dict[str, Any]


class KiliMapping(TypedDict):
    """The names of a :class:`KiliInterface`, as stored with a run (:meth:`KiliInterface.to_dict`)."""

    version: int
    #: ``{field: job name}``
    jobs: dict[str, str]
    #: ``{field: {class: category key}}``
    categories: dict[str, dict[str, str]]
    #: ``{field: {attribute: child job name}}``
    attribute_jobs: dict[str, dict[str, str]]
    #: ``{field: {attribute: {str(value): category key}}}``
    attribute_values: dict[str, dict[str, dict[str, str]]]
    #: ``{field: [[point code, point name], ...]}`` of pose fields
    pose_points: dict[str, list[list[str]]]


def is_untyped_number(spec: FieldSpec) -> bool:
    """Whether ``spec`` is a new scalar field without classes: FiftyOne has
    no type for it, and this package treats it as numeric (a Kili number
    input; answers that parse as numbers come back as int/float)."""
    return spec.type == "scalar" and not spec.classes and not spec.existing and spec.scalar_type == "str"


class KiliInterface:
    """The label schema as a Kili ``jsonInterface``, with the job name of
    every field, the category key of every class and attribute value.

    Args:
        fields: ``{field: FieldSpec}``, in schema order
        skeletons (None): ``{field: KeypointSkeleton}`` for keypoints fields
            drawn with Kili's pose tool (one named point per skeleton node)
        mapping (None): a dict returned by :meth:`to_dict` of a stored run:
            its names are reused exactly
    """

    def __init__(
        self,
        fields: Fields,
        skeletons: Mapping[str, KeypointSkeleton] | None = None,
        mapping: Mapping[str, Any] | None = None,
    ) -> None:
        self.fields = dict(fields)
        stored = mapping or {}
        skeletons = skeletons or {}
        stored_jobs = stored.get("jobs") or {}
        stored_attribute_jobs = stored.get("attribute_jobs") or {}
        stored_points = stored.get("pose_points") or {}

        # stored names stay reserved, even for fields no longer annotated
        taken_jobs = set(stored_jobs.values())
        for attr_jobs in stored_attribute_jobs.values():
            taken_jobs.update(attr_jobs.values())

        self._jobs: dict[str, str] = {}
        self._categories: dict[str, dict[str, str]] = {}
        self._attribute_jobs: dict[str, dict[str, str]] = {}
        self._attribute_values: dict[str, dict[str, dict[str, str]]] = {}
        self._pose_points: dict[str, list[list[str]]] = {}
        for index, (field, spec) in enumerate(self.fields.items(), start=1):
            job = stored_jobs.get(field) or upper_identifier(field, taken_jobs, "JOB_%d" % index, "JOB")
            self._jobs[field] = job
            self._categories[field] = assign_keys(_category_names(spec), (stored.get("categories") or {}).get(field))
            self._attribute_jobs[field] = _assign_attribute_jobs(
                spec, job, stored_attribute_jobs.get(field) or {}, taken_jobs
            )
            self._attribute_values[field] = _assign_attribute_values(
                spec, (stored.get("attribute_values") or {}).get(field) or {}
            )
            # a field of a stored run keeps its tool (pose or markers)
            if field in stored_points:
                self._pose_points[field] = [list(p) for p in stored_points[field]]
            elif field not in stored_jobs and spec.type == "keypoints" and skeletons.get(field) is not None:
                self._pose_points[field] = _skeleton_points(skeletons[field])

        self._class_of_key = {f: {k: c for c, k in keys.items()} for f, keys in self._categories.items()}
        self._attribute_of_job = {f: {j: a for a, j in jobs.items()} for f, jobs in self._attribute_jobs.items()}
        self._value_of_key = {
            f: {a: {k: v for v, k in keys.items()} for a, keys in values.items()}
            for f, values in self._attribute_values.items()
        }

    # ------------------------------------------------------------------
    # lookups

    def job_name(self, field: str) -> str:
        """The name of the top-level job of ``field``."""
        return self._jobs[field]

    def attribute_jobs(self, field: str) -> dict[str, str]:
        """``{attribute: child job name}`` of ``field``."""
        return dict(self._attribute_jobs[field])

    def attribute_of_job(self, field: str, job: str) -> str | None:
        """The attribute of ``field`` whose child job is ``job``, or ``None``."""
        return self._attribute_of_job[field].get(job)

    def attribute_value_key(self, field: str, attribute: str, value: object) -> str | None:
        """The category key of a select/radio ``value`` of ``attribute``."""
        return self._attribute_values[field].get(attribute, {}).get(str(value))

    def attribute_value_of_key(self, field: str, attribute: str, key: str) -> str | None:
        """The exact ``str(value)`` of category ``key`` of ``attribute``."""
        return self._value_of_key[field].get(attribute, {}).get(key)

    def category_keys(self, field: str) -> dict[str, str]:
        """``{class: category key}`` of ``field`` (empty for transcriptions)."""
        return dict(self._categories[field])

    def category_key(self, field: str, name: object) -> str | None:
        """The category key of class ``name`` of ``field``, or ``None``."""
        return self._categories[field].get(str(name))

    def class_of_key(self, field: str, key: str) -> str | None:
        """The exact class string of category ``key``, or ``None``."""
        return self._class_of_key[field].get(key)

    def is_pose(self, field: str) -> bool:
        """Whether the keypoints of ``field`` are drawn with the pose tool."""
        return field in self._pose_points

    def pose_codes(self, field: str) -> list[str]:
        """The point codes of a pose field, in skeleton order."""
        return [code for code, _ in self._pose_points.get(field, [])]

    def is_numeric_scalar(self, field: str) -> bool:
        """Whether the text answers of scalar ``field`` are read as numbers
        (an int or float field, or a new field without classes)."""
        spec = self.fields[field]
        return spec.type == "scalar" and (spec.scalar_type in ("int", "float") or is_untyped_number(spec))

    def needs_image_size(self) -> bool:
        """Whether any field needs the image's pixel size (masks)."""
        return any(spec.type in ("instances", "segmentation") for spec in self.fields.values())

    # ------------------------------------------------------------------
    # serialisation

    def to_dict(self) -> KiliMapping:
        """The names of this interface, JSON-able, for :class:`KiliInterface`'s
        ``mapping`` argument."""
        return {
            "version": MAPPING_VERSION,
            "jobs": dict(self._jobs),
            "categories": {f: dict(keys) for f, keys in self._categories.items()},
            "attribute_jobs": {f: dict(jobs) for f, jobs in self._attribute_jobs.items()},
            "attribute_values": {
                f: {a: dict(keys) for a, keys in values.items()} for f, values in self._attribute_values.items()
            },
            "pose_points": {f: [list(p) for p in points] for f, points in self._pose_points.items()},
        }

    def json_interface(self) -> dict[str, dict[str, Job]]:
        """The project's ``jsonInterface`` (``{"jobs": {...}}``)."""
        jobs: dict[str, Job] = {}
        for field, spec in self.fields.items():
            children = list(self._attribute_jobs[field].values())
            jobs[self._jobs[field]] = self._field_job(field, spec, children)
            for name, child in self._attribute_jobs[field].items():
                jobs[child] = self._attribute_job(field, spec.attributes[name])
        return {"jobs": jobs}

    def _field_job(self, field: str, spec: FieldSpec, children: Sequence[str]) -> Job:
        keys = self._categories[field]
        if spec.type == "scalar" and not keys:
            return _job("TRANSCRIPTION", field, "number" if self.is_numeric_scalar(field) else "textField")
        categories = _categories_content(keys, children)
        if spec.type in ("scalar", "classification"):
            return _job("CLASSIFICATION", field, "radio", categories)
        if spec.type == "classifications":
            return _job("CLASSIFICATION", field, "checkbox", categories)
        tool = TOOLS[spec.type]
        if self.is_pose(field):
            tool = POSE_TOOL
            points = [{"code": code, "name": name} for code, name in self._pose_points[field]]
            for category in categories.values():
                category["points"] = [dict(p) for p in points]
        return _job("OBJECT_DETECTION", field, "radio", categories, tools=[tool])

    def _attribute_job(self, field: str, attr: AttributeSpec) -> Job:
        if attr.type == "text":
            return _job("TRANSCRIPTION", attr.name, "textField", is_child=True)
        if attr.type == "checkbox":
            categories = {CHECKBOX_KEY: {"name": attr.name, "children": [], "color": _COLORS[0]}}
            return _job("CLASSIFICATION", attr.name, "checkbox", categories, is_child=True)
        categories = _categories_content(self._attribute_values[field][attr.name], [])
        return _job("CLASSIFICATION", attr.name, "radio", categories, is_child=True)


def _assign_attribute_jobs(
    spec: FieldSpec, job: str, stored: Mapping[str, str], taken_jobs: set[str]
) -> dict[str, str]:
    """``{attribute: child job}``: ``<JOB>__<ATTRIBUTE>``, one per attribute."""
    jobs: dict[str, str] = {}
    for index, name in enumerate(spec.attributes, start=1):
        if name in stored:
            jobs[name] = stored[name]
        else:
            suffix = upper_identifier(name, set(), "ATTRIBUTE_%d" % index, "A")
            jobs[name] = claim("%s__%s" % (job, suffix), taken_jobs)
    return jobs


def _assign_attribute_values(spec: FieldSpec, stored: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """``{attribute: {str(value): category key}}`` of choice attributes."""
    values: dict[str, dict[str, str]] = {}
    for name, attr in spec.attributes.items():
        if attr.type == "checkbox":
            values[name] = {"True": CHECKBOX_KEY}
        elif attr.type in ("select", "radio"):
            values[name] = assign_keys(unique_strings(attr.values or []), stored.get(name))
    return values


def _category_names(spec: FieldSpec) -> list[str]:
    if spec.type == "scalar":
        if spec.classes:
            return list(spec.classes)
        return ["True", "False"] if spec.scalar_type == "bool" else []
    return list(spec.classes)


def _skeleton_points(skeleton: KeypointSkeleton) -> list[list[str]]:
    names = [str(n) for n in (skeleton.labels or [])]
    if not names:
        count = max((max(edge) for edge in (skeleton.edges or []) if edge), default=-1) + 1
        names = [str(i) for i in range(count)]
    taken: set[str] = set()
    return [[upper_identifier(name, taken, "POINT_%d" % i, "POINT"), name] for i, name in enumerate(names)]


def _categories_content(keys: Mapping[str, str], children: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {
        key: {"name": name, "children": list(children), "color": _COLORS[i % len(_COLORS)]}
        for i, (name, key) in enumerate(keys.items())
    }


def _job(
    ml_task: str,
    instruction: str,
    input_type: str,
    categories: dict[str, dict[str, Any]] | None = None,
    tools: list[str] | None = None,
    is_child: bool = False,
) -> Job:
    job: Job = {"mlTask": ml_task}
    if tools is not None:
        job["tools"] = tools
    job.update(instruction=instruction, required=0, isChild=is_child)
    content: dict[str, Any] = {"input": input_type}
    if categories is not None:
        content["categories"] = categories
    job["content"] = content
    return job
