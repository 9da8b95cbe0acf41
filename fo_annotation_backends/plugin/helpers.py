"""What the App plugin's operators and panel share: which backends and runs
are ours, credentials from the plugin's secrets, the label schema built from
a form, the preview of a load, and readable errors.

Nothing here talks to the App; every function works on a dataset (or an
operator's ``ctx`` for secrets) and can be called from Python directly.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.utils.annotations as foua
import requests

from fo_annotation_backends import registry
from fo_annotation_backends.core import compat
from fo_annotation_backends.core.errors import AnnotationBackendError
from fo_annotation_backends.core.secrets import get_logger, redact, register_secret

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection
    from fiftyone.core.dataset import Dataset
    from fiftyone.operators import ExecutionContext
    from fiftyone.utils.annotations import AnnotationBackendConfig, AnnotationResults

logger = get_logger(__name__)

PLUGIN_NAME = "@fo-annotation-backends/annotation"
PACKAGE = "fo_annotation_backends"

REQUEST_ANNOTATIONS = "request_annotations"
LOAD_ANNOTATIONS = "load_annotations"
GET_ANNOTATION_STATUS = "get_annotation_status"
CLEANUP_ANNOTATIONS = "cleanup_annotations"
DELETE_ANNOTATION_RUN = "delete_annotation_run"
ANNOTATION_RUNS_PANEL = "annotation_runs"

OPERATOR_NAMES = (
    REQUEST_ANNOTATIONS,
    LOAD_ANNOTATIONS,
    GET_ANNOTATION_STATUS,
    CLEANUP_ANNOTATIONS,
    DELETE_ANNOTATION_RUN,
)


def service_title(service: str | None, default: str | None = None) -> str | None:
    """The name the App shows for a service of the registry (``default``
    for a name the registry does not know)."""
    if service is None:
        return default
    try:
        return registry.get(service).title
    except KeyError:
        return default


def uri(name: str) -> str:
    """The URI of one of this plugin's operators or panels."""
    return "%s/%s" % (PLUGIN_NAME, name)


# --------------------------------------------------------------------------
# Errors


class AnnotationPluginError(Exception):
    """An operation of the plugin failed; the message is readable and redacted
    (no API key, no traceback of the service call)."""

    def __init__(self, message: object) -> None:
        super().__init__(redact(str(message)))


def readable_message(error: BaseException) -> str:
    """One line for the App: what went wrong, without keys."""
    if isinstance(error, (AnnotationBackendError, AnnotationPluginError)):
        message = str(error)
    elif isinstance(error, requests.RequestException):
        message = "the annotation service could not be reached (%s)" % type(error).__name__
        detail = str(error)
        if detail:
            message += ": %s" % detail
    else:
        message = "%s: %s" % (type(error).__name__, error)
    return redact(message)


@contextlib.contextmanager
def readable_errors(action: str, ctx: ExecutionContext | None = None) -> Iterator[None]:
    """Turns any error of the block into an :class:`AnnotationPluginError`
    ``"<action> failed: <message>"``, chained to nothing, so that the App
    shows one readable line and no traceback of the service call. The full
    error goes to the server log (redacted by this package's log filter).

    With an operator's ``ctx`` (not delegated), the message is also shown as
    an error notification (the App runs the operations an operator queued
    even when it fails)."""
    try:
        yield
    except Exception as error:
        failure: AnnotationPluginError
        if isinstance(error, AnnotationPluginError):
            failure = error
        else:
            logger.warning("%s failed", action, exc_info=True)
            failure = AnnotationPluginError("%s failed: %s" % (action, readable_message(error)))
        if ctx is not None and not getattr(ctx, "delegated", False):
            try:
                ctx.ops.notify(str(failure), variant="error")
            except Exception:
                pass
        if failure is error:
            raise
        raise failure from None


# --------------------------------------------------------------------------
# Our backends and runs


def service_of(config_cls: object) -> str | None:
    """The registry name of the service of a config class of this package
    (a class or a dotted path), else None."""
    service = registry.service_of_config_cls(config_cls)
    return service.name if service else None


def our_backends() -> dict[str, str]:
    """``{backend name: service}`` of the entries of
    ``fo.annotation_config.backends`` whose ``config_cls`` is one of ours."""
    out: dict[str, str] = {}
    for name, entry in (fo.annotation_config.backends or {}).items():
        service = service_of((entry or {}).get("config_cls"))
        if service:
            out[name] = service
    return out


class _RunInfoKeys(TypedDict):
    anno_key: str
    backend: str
    service: str
    fields: list[str]
    created: str | None


class RunInfo(_RunInfoKeys, total=False):
    """A run of one of our backends, as :func:`list_runs` describes it."""

    #: the project in the service, added by the panel (None: unknown)
    project_url: str | None


def list_runs(dataset: Dataset) -> list[RunInfo]:
    """The dataset's annotation runs made with our backends, oldest first:
    dicts with ``anno_key``, ``backend``, ``service``, ``fields`` and
    ``created`` (ISO timestamp). Nothing is asked of the services."""
    runs: list[RunInfo] = []
    for key in dataset.list_annotation_runs():
        try:
            info = dataset.get_annotation_info(key)
        except Exception as error:  # a run whose config class cannot be imported
            logger.debug("Skipping annotation run '%s': %s", key, error)
            continue
        config = info.config
        service = service_of(type(config))
        if service is None:
            continue
        timestamp = getattr(info, "timestamp", None)
        runs.append(
            {
                "anno_key": key,
                "backend": config.name,
                "service": service,
                "fields": list((config.label_schema or {}).keys()),
                "created": timestamp.isoformat(timespec="seconds") if timestamp is not None else None,
            }
        )
    runs.sort(key=lambda r: r["created"] or "")
    return runs


def get_run(dataset: Dataset, anno_key: str) -> RunInfo:
    """The :func:`list_runs` entry of ``anno_key``; raises
    :class:`AnnotationPluginError` if it is not a run of our backends."""
    if anno_key not in dataset.list_annotation_runs():
        raise AnnotationPluginError("Dataset '%s' has no annotation run '%s'" % (dataset.name, anno_key))
    for run in list_runs(dataset):
        if run["anno_key"] == anno_key:
            return run
    raise AnnotationPluginError("Annotation run '%s' was not made with a backend of fo-annotation-backends" % anno_key)


# --------------------------------------------------------------------------
# Credentials from the plugin's secrets


def secret_names(service: str) -> dict[str, str]:
    """``{param: secret name}`` of a service, as listed in ``fiftyone.yml``."""
    prefix = "FIFTYONE_%s_" % service.upper()
    return {"url": prefix + "URL", "api_key": prefix + "API_KEY"}


def read_secret(ctx: ExecutionContext, key: str) -> str | None:
    """The value of one of the plugin's secrets, or None."""
    try:
        value = ctx.secrets.get(key)
    except Exception:
        return None
    value = getattr(value, "value", value)  # the resolver may hand out a secret object
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value or None


def credentials(ctx: ExecutionContext, backend: str, config: AnnotationBackendConfig | None = None) -> dict[str, str]:
    """``url``/``api_key`` keyword arguments for ``annotate()`` or
    ``load_annotation_results()`` from the plugin's secrets, for what is not
    set already: by the backend's entry in the annotation config, or (for the
    URL) by the run's stored config. Keys are registered for redaction; they
    are never stored by the plugin.

    Args:
        ctx: an operator's execution context (anything with ``secrets``)
        backend: the backend name
        config (None): a run's config
    """
    service = service_of((fo.annotation_config.backends.get(backend) or {}).get("config_cls"))
    if service is None and config is not None:
        service = service_of(type(config))
    if service is None:
        return {}
    entry = fo.annotation_config.backends.get(backend) or {}
    out: dict[str, str] = {}
    for param, key in secret_names(service).items():
        if entry.get(param):
            continue
        if param == "url" and config is not None and getattr(config, "url", None):
            continue
        value = read_secret(ctx, key)
        if value:
            if param == "api_key":
                register_secret(value)
            out[param] = value
    return out


def run_credentials(ctx: ExecutionContext, dataset: Dataset, anno_key: str) -> dict[str, str]:
    """:func:`credentials` for an existing run."""
    info = dataset.get_annotation_info(anno_key)
    return credentials(ctx, info.config.name, config=info.config)


def load_results(dataset: Dataset, anno_key: str, creds: Mapping[str, str] | None = None) -> AnnotationResults:
    """The results of a run, loaded afresh with ``creds`` (not the copy
    FiftyOne caches on the dataset, which keeps the credentials it was
    loaded with)."""
    return dataset.load_annotation_results(anno_key, cache=False, **(creds or {}))


def forget_cached_results(dataset: Dataset, anno_key: str) -> None:
    """Drops FiftyOne's cached results of a run, so that the next
    ``load_annotations()`` loads them with the credentials it is given."""
    compat.cached_annotation_results(dataset).pop(anno_key, None)


# --------------------------------------------------------------------------
# The label schema from the request form

#: label document type -> the label types it can be annotated as (first: inferred)
FIELD_LABEL_TYPES = {
    fol.Classification: ("classification",),
    fol.Classifications: ("classifications",),
    fol.Detection: ("detection", "instance"),
    fol.Detections: ("detections", "instances"),
    fol.Polyline: ("polyline", "polygon"),
    fol.Polylines: ("polylines", "polygons"),
    fol.Keypoint: ("keypoint",),
    fol.Keypoints: ("keypoints",),
    fol.Segmentation: ("segmentation",),
}

#: the label types a new field can have
NEW_FIELD_TYPES = (
    "classification",
    "classifications",
    "detections",
    "instances",
    "polylines",
    "polygons",
    "keypoints",
    "segmentation",
    "scalar",
)

ATTRIBUTE_TYPES = ("select", "radio", "checkbox", "text")

_SCALAR_FIELDS = (fof.IntField, fof.FloatField, fof.StringField, fof.BooleanField)
_RESERVED_FIELDS = {"id", "filepath", "tags", "metadata", "created_at", "last_modified_at"}


def annotatable_fields(collection: SampleCollection) -> dict[str, tuple[str, ...]]:
    """``{field: label types}`` of the collection's existing fields that can
    be annotated (label fields and plain scalar fields); the first type is
    the inferred one."""
    reserved = set(_RESERVED_FIELDS)
    try:
        reserved.update(compat.base_dataset(collection).app_config.media_fields or [])
    except Exception:
        pass
    out: dict[str, tuple[str, ...]] = {}
    for name, field in collection.get_field_schema().items():
        if name in reserved or name.startswith("_"):
            continue
        if isinstance(field, fof.EmbeddedDocumentField) and field.document_type in FIELD_LABEL_TYPES:
            out[name] = FIELD_LABEL_TYPES[field.document_type]
        elif isinstance(field, _SCALAR_FIELDS) and not isinstance(field, fof.ObjectIdField):
            out[name] = ("scalar",)
    return out


def _checkbox_value(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y", "on")
    return bool(value)


def build_attributes(attributes: Iterable[Mapping[str, Any] | None] | None) -> dict[str, dict[str, Any]]:
    """``{name: {"type", "values", "default"}}`` from the form's list of
    attribute dicts (``name``, ``type``, ``values``, ``default``)."""
    out: dict[str, dict[str, Any]] = {}
    for given in attributes or []:
        attr = given or {}
        name = attr.get("name")
        if not name:
            continue
        attr_type = attr.get("type") or "text"
        spec: dict[str, Any] = {"type": attr_type}
        values = [v for v in (attr.get("values") or []) if v not in (None, "")]
        if attr_type == "checkbox":
            values = []
        if values:
            spec["values"] = values
        default = attr.get("default")
        if default not in (None, ""):
            spec["default"] = _checkbox_value(default) if attr_type == "checkbox" else default
        out[name] = spec
    return out


def build_label_schema(
    label_field: str,
    label_type: str | None = None,
    classes: Iterable[str | None] | None = None,
    attributes: Iterable[Mapping[str, Any] | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """The ``label_schema`` of one field, from the request form.

    Args:
        label_field: the field name
        label_type (None): the label type (None: FiftyOne infers it from an
            existing field)
        classes (None): a list of class names (for a new segmentation field
            they become the mask targets 1, 2, ...)
        attributes (None): a list of ``{"name", "type", "values",
            "default"}`` dicts
    """
    spec: dict[str, Any] = {}
    if label_type:
        spec["type"] = label_type
    names = [c for c in (classes or []) if c not in (None, "")]
    if label_type == "segmentation":
        if names:
            spec["mask_targets"] = {i + 1: c for i, c in enumerate(names)}
    elif names:
        spec["classes"] = names
    attrs = build_attributes(attributes)
    if attrs and label_type not in ("scalar", "segmentation"):
        spec["attributes"] = attrs
    return {label_field: spec}


# --------------------------------------------------------------------------
# Preview of a load

#: ``{field: {"added": n, "edited": n, "deleted": n}}``
Preview = dict[str, dict[str, int]]
#: what a backend's ``download_annotations()`` returns:
#: ``{field: {label type: {sample id: labels}}}``
Annotations = Mapping[str, Mapping[str, Mapping[str, Any]]]

_NO_CHANGE = {"added": 0, "edited": 0, "deleted": 0}


def preview_load(dataset: Dataset, anno_key: str, **creds: str) -> Preview:
    """What ``dataset.load_annotations(anno_key)`` would change, without
    changing anything: the run's annotations are downloaded once
    (``results.backend.download_annotations(results)``) and merged by
    FiftyOne's own ``load_annotations()`` into a temporary copy of the run's
    samples (see :func:`compare_annotations`).

    Args:
        dataset: the dataset
        anno_key: the run's key
        **creds: ``url``/``api_key`` for the run's results

    Returns:
        ``{field: {"added": n, "edited": n, "deleted": n}}``; labels of
        unexpected types count as added to the field named after their type
        (where ``unexpected="keep"`` puts them)
    """
    results = load_results(dataset, anno_key, creds)
    annotations = results.backend.download_annotations(results)
    return compare_annotations(dataset, results, annotations, anno_key=anno_key)


class _Downloaded:
    """A stand-in for a run's results whose backend "downloads" what was
    already downloaded; every other attribute is the real results'."""

    def __init__(self, results: AnnotationResults, annotations: Annotations) -> None:
        self._results = results
        self.backend = self
        self._annotations = annotations
        # the merge records new label ids: in a copy, never in the run's results
        self.id_map = copy.deepcopy(results.id_map)

    def download_annotations(self, results: object) -> Annotations:
        return self._annotations

    def save_run_results(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to save: the copy has no run record."""

    def __getattr__(self, name: str) -> Any:
        # the results class's methods run on this stand-in (and its copy of
        # the id map); anything else is read from the real results
        method = getattr(type(self._results), name, None)
        if inspect.isfunction(method):
            return method.__get__(self)
        return getattr(self._results, name)


def compare_annotations(
    dataset: Dataset, results: AnnotationResults, annotations: Annotations, anno_key: str = "preview"
) -> Preview:
    """The counts of :func:`preview_load` for downloaded ``annotations``.

    The samples of the run (only the fields the merge can touch) are cloned
    into a temporary dataset (same sample and label ids), FiftyOne's
    ``load_annotations(unexpected="keep")`` merges ``annotations`` into the
    copy, and the copy is compared with the dataset label by label id: a new
    id is an addition, a missing one a deletion, a label whose content
    changed an edit (scalars: by value). The copy is deleted afterwards.
    """
    schema = results.config.label_schema or {}
    sample_ids: set[str] = set()
    for field in schema:
        sample_ids |= {s for s, ids in (results.id_map.get(field) or {}).items() if ids is not None}
    touched = set(schema)
    for by_type in annotations.values():
        touched.update(by_type)
        for annos in by_type.values():
            sample_ids |= set(annos)
    fields = sorted(f for f in touched if dataset.has_sample_field(f))
    if not sample_ids:
        return {field: dict(_NO_CHANGE) for field in schema}

    scratch = dataset.select(sorted(sample_ids)).select_fields(fields).clone()
    try:
        compat.cached_annotation_results(scratch)[anno_key] = _Downloaded(results, annotations)
        foua.load_annotations(scratch, anno_key, unexpected="keep", progress=False)
        changed = [f for f in scratch.get_field_schema() if f in touched]
        before = _values(dataset, changed, sample_ids)
        after = _values(scratch, changed, sample_ids)
    finally:
        scratch.delete()
    preview = {field: dict(_NO_CHANGE) for field in schema}
    for field in changed:
        preview[field] = _count_changes(before.get(field, {}), after[field])
    return preview


def _values(collection: SampleCollection, fields: list[str], sample_ids: set[str]) -> dict[str, dict[str, Any]]:
    present = [f for f in fields if collection.has_sample_field(f)]
    columns = collection.select(sorted(sample_ids)).values(["id"] + present)
    out: dict[str, dict[str, Any]] = {field: {} for field in fields}
    out.update({field: dict(zip(columns[0], column)) for field, column in zip(present, columns[1:])})
    return out


def _count_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, int]:
    counts = dict(_NO_CHANGE)
    for sample_id in set(before) | set(after):
        old, new = before.get(sample_id), after.get(sample_id)
        if isinstance(old, fol.Label) or isinstance(new, fol.Label):
            old_labels, new_labels = _labels_by_id(old), _labels_by_id(new)
            counts["added"] += len(set(new_labels) - set(old_labels))
            counts["deleted"] += len(set(old_labels) - set(new_labels))
            counts["edited"] += sum(
                1 for i in set(old_labels) & set(new_labels) if old_labels[i].to_json() != new_labels[i].to_json()
            )
        elif old is None and new is not None:
            counts["added"] += 1
        elif new is None and old is not None:
            counts["deleted"] += 1
        elif not _same_scalar(old, new):
            counts["edited"] += 1
    return counts


def _labels_by_id(value: object) -> dict[str, fol.Label]:
    labels = compat.label_list(value)
    if labels is None:
        labels = [value] if isinstance(value, fol.Label) else []
    return {label.id: label for label in labels}


def _same_scalar(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def preview_markdown(preview: Mapping[str, Mapping[str, int]]) -> str:
    """The preview as readable lines, one per field."""
    if not preview:
        return "The run has no fields."
    lines = []
    for field, counts in preview.items():
        lines.append(
            "- **%s**: %d label(s) will be added, %d edited, %d deleted"
            % (field, counts.get("added", 0), counts.get("edited", 0), counts.get("deleted", 0))
        )
    return "\n".join(lines)


_PREVIEW_TTL = 30.0
#: ``(dataset name, run key) -> (time, preview)``
_preview_cache: dict[tuple[str, str], tuple[float, Preview]] = {}


def cached_preview(
    dataset: Dataset, anno_key: str, creds: Mapping[str, str] | None = None, ttl: float = _PREVIEW_TTL
) -> Preview:
    """:func:`preview_load`, remembered for ``ttl`` seconds per run (the
    form that shows it is resolved again on every change)."""
    key = (compat.dataset_key(dataset), anno_key)
    now = time.monotonic()
    hit = _preview_cache.get(key)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    preview = preview_load(dataset, anno_key, **(creds or {}))
    for stale in [k for k, (t, _) in _preview_cache.items() if now - t >= ttl]:
        _preview_cache.pop(stale, None)
    _preview_cache[key] = (now, preview)
    return preview


def forget_preview(dataset: Dataset, anno_key: str) -> None:
    """Drops the remembered preview of a run (after its load, cleanup or deletion)."""
    _preview_cache.pop((compat.dataset_key(dataset), anno_key), None)


# --------------------------------------------------------------------------
# Status


def jsonable(value: object) -> Any:
    """``value`` with everything that JSON cannot hold turned into strings."""
    return json.loads(json.dumps(value, default=str))


def format_status(status: object, indent: str = "") -> str:
    """A run's ``get_status()`` dict as readable markdown lines."""
    if not isinstance(status, dict):
        return "%s- %s" % (indent, status)
    lines = []
    for name, value in status.items():
        label = str(name).replace("_", " ")
        if isinstance(value, dict):
            if not value:
                lines.append("%s- %s: none" % (indent, label))
                continue
            lines.append("%s- %s:" % (indent, label))
            lines.append(format_status(value, indent + "    "))
        elif isinstance(value, (list, tuple)):
            lines.append("%s- %s: %s" % (indent, label, ", ".join(str(v) for v in value) or "none"))
        else:
            lines.append("%s- %s: %s" % (indent, label, value))
    return "\n".join(lines)


def progress_summary(status: object) -> str:
    """One short line of a run's progress, from its ``get_status()`` (the
    common shape of ``core.runs.status_dict``)."""
    if not isinstance(status, dict):
        return str(status)
    total = status.get("total")
    service = status.get("service") or {}
    parts = []
    if "labeled" in status and total is not None:
        parts.append("%s/%s labeled" % (status["labeled"], total))
    if status.get("reviewed"):
        parts.append("%s reviewed" % status["reviewed"])
    statuses = service.get("statuses")
    if isinstance(statuses, dict) and statuses:
        parts.append(", ".join("%s: %s" % (k, v) for k, v in sorted(statuses.items())))
    if service.get("skipped"):
        parts.append("%s skipped" % service["skipped"])
    if status.get("missing"):
        parts.append("%s missing on the service" % status["missing"])
    if not parts and total is not None:
        parts.append("%s item(s)" % total)
    return "; ".join(parts) or "no progress reported"
